// A SOCKS5 proxy (SOCKS4 and HTTP off) on 127.0.0.1:1080 with one user, alice, who may reach anything but
// private addresses. Runs until SIGINT or SIGTERM, then lets open sessions finish for up to 5 seconds.
//
//   swift run EmbeddedServer [PORT]
//   curl --proxy socks5h://alice:secret@127.0.0.1:1080 https://example.com/
import Foundation
import SOCKSServer

let port = CommandLine.arguments.dropFirst().first.flatMap { UInt16($0) } ?? 1080

var configuration = SOCKSServer.Configuration()
configuration.listenAddresses = [try SocketAddress("127.0.0.1", port: port)]
configuration.users = try UserDatabase(["alice": "secret"])
configuration.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "private")])
configuration.maxSessionsPerUser = 32
configuration.logger = .standardError(level: .info)

let server = try SOCKSServer(configuration: configuration)
print("SOCKS5 proxy on \(server.localAddresses[0]); user alice, password secret")

// SIGINT and SIGTERM become a stream, so that stopping is one more child task of the program.
let (stops, stop) = AsyncStream.makeStream(of: Int32.self)
let sources = [SIGINT, SIGTERM].map { signalNumber in
    signal(signalNumber, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: signalNumber)
    source.setEventHandler { stop.yield(signalNumber) }
    source.resume()
    return source
}

try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await server.run() }
    for await signalNumber in stops {
        print("signal \(signalNumber): stopping")
        break
    }
    server.shutdown()  // stop accepting; open sessions go on
    group.addTask {
        try await Task.sleep(for: .seconds(5))
        throw CancellationError()  // what is still open after 5 s is cancelled
    }
    do {
        try await group.next()  // run() returned once the sessions ended, or the 5 s passed
    } catch is CancellationError {
        print("sessions still open after 5 s were cancelled")
    }
    group.cancelAll()
}
sources.forEach { $0.cancel() }
