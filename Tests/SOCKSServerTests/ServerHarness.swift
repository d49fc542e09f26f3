import AsyncSockets
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// Collects log lines so tests can check what the server logged (and what it never logs).
final class LogCollector: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: SOCKSLogger {
        SOCKSLogger(level: .debug) { [self] level, message in lines.withLock { $0.append("\(level) \(message)") } }
    }

    var all: [String] { lines.withLock { $0 } }
}

/// An in-process server on a loopback port chosen by the kernel, running in its own task.
struct ServerHarness {
    let server: SOCKSServer
    let task: Task<Void, any Error>
    let log = LogCollector()

    var address: SocketAddress { server.localAddresses[0] }

    /// - Parameter eventLoops: the loops to serve on; `nil` for the shared ones.
    init(eventLoops: EventLoopGroup? = nil, _ configure: (inout SOCKSServer.Configuration) throws -> Void = { _ in }) throws {
        LoopbackPeers.raiseDescriptorLimit()
        var configuration = SOCKSServer.Configuration()
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0)]
        configuration.logger = log.logger
        try configure(&configuration)
        let server = try SOCKSServer(configuration: configuration, eventLoops: eventLoops)
        self.server = server
        self.task = Task { try await server.run() }
    }

    /// Cancels the server and waits for it to finish.
    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    /// Waits until `condition` holds, polling, for at most `timeout`.
    static func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
        await TestSupport.eventually(timeout, condition)
    }
}
