import Foundation
import Testing

// The README's embedding example, compiled and run here. `readmeShowsThisExample` keeps the two identical.
import AsyncSockets
import SOCKSServer

func embeddingExample() async throws {
    // BEGIN README EXAMPLE
    var configuration = SOCKSServer.Configuration()
    configuration.listenAddresses = [SocketAddress("127.0.0.1", port: 0)!]  // port 0: the kernel picks
    configuration.users = try UserDatabase(["alice": "secret", "bob": "hunter2"])
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

@Suite struct EmbeddingExampleTests {
    @Test func exampleRunsAndStops() async throws {
        try await embeddingExample()
    }

    @Test func readmeShowsThisExample() throws {
        let testFile = URL(fileURLWithPath: #filePath)
        let root = testFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: testFile, encoding: .utf8)
        let body = source.components(separatedBy: "// BEGIN README EXAMPLE\n")[1].components(separatedBy: "    // END README EXAMPLE")[0]
        // The README shows the body unindented, after the two imports.
        let unindented = body.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }.joined(separator: "\n")
        let expected = "```swift\nimport AsyncSockets\nimport SOCKSServer\n\n" + unindented + "```"
        #expect(readme.contains(expected), "README.md's embedding example must match EmbeddingExampleTests.swift")
    }
}
