// README's server example, compiled (and run by EmbeddingExampleTests) with the one import it shows.
import SOCKSServer

func embeddingExample() async throws {
    // BEGIN README EXAMPLE server
    var configuration = SOCKSServer.Configuration()
    configuration.listenAddresses = [try SocketAddress("127.0.0.1", port: 0)]  // port 0: the kernel picks
    configuration.users = try UserDatabase(["alice": "secret", "bob": "hunter2"])
    configuration.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "private")])
    configuration.maxSessionsPerUser = 100
    configuration.idleTimeout = .seconds(300)
    configuration.logger = .standardError(level: .warning)

    let server = try SOCKSServer(configuration: configuration)  // binds now: a port in use throws here
    print("SOCKS5 proxy on \(server.localAddresses[0])")

    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        // ... serve for a while; then, for example on SIGTERM:
        server.shutdown()  // stop accepting, let sessions finish, then run() returns
        try await group.waitForAll()
    }
    // END README EXAMPLE
}
