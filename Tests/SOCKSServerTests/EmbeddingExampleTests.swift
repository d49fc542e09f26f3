import Foundation
import Testing

// The README's examples, compiled here (the server one also runs). `readmeShowsTheseExamples` keeps the
// README and this file identical.
import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import SOCKSServer

func embeddingExample() async throws {
    // BEGIN README EXAMPLE server
    var configuration = SOCKSServer.Configuration()
    configuration.listenAddresses = [try SocketAddress("127.0.0.1", port: 0)]  // port 0: the kernel picks
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

/// Compiled, never called: it names public hosts, and tests reach loopback only.
func clientExample() async throws {
    // BEGIN README EXAMPLE client
    let proxy = SOCKSClient(host: "127.0.0.1", port: 1080, credentials: SOCKSCredentials(username: "alice", password: "secret"))

    // CONNECT: a TCP stream to the destination
    let tunnel = try await proxy.connect(to: SOCKSEndpoint(address: .domain("example.com"), port: 80))
    try await tunnel.connection.write(Array("HEAD / HTTP/1.0\r\n\r\n".utf8))

    // UDP ASSOCIATE: datagrams through the proxy's relay
    let association = try await proxy.udpAssociate()
    try await association.send(Array("query".utf8), to: SOCKSEndpoint(address: .ipv4([9, 9, 9, 9]), port: 53))

    // UDP over TCP (UoT v2, non-connect): datagrams framed on one TCP stream
    let stream = try await proxy.udpOverTCP()
    try await stream.send(Array("query".utf8), to: SOCKSEndpoint(address: .domain("dns.example"), port: 53))
    for try await frame in stream.frames() { print(frame.endpoint!, frame.payload.count) }
    // END README EXAMPLE
}

@Suite struct EmbeddingExampleTests {
    @Test func exampleRunsAndStops() async throws {
        try await embeddingExample()
    }

    @Test(arguments: [("server", "import AsyncSockets\nimport SOCKSServer\n\n"), ("client", "import SOCKSClient\nimport SOCKSProtocol\n\n")])
    func readmeShowsTheseExamples(name: String, imports: String) throws {
        let testFile = URL(fileURLWithPath: #filePath)
        let root = testFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: testFile, encoding: .utf8)
        let body = source.components(separatedBy: "// BEGIN README EXAMPLE \(name)\n")[1].components(separatedBy: "    // END README EXAMPLE")[0]
        // The README shows the body unindented, after its imports.
        let unindented = body.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }.joined(separator: "\n")
        let expected = "```swift\n" + imports + unindented + "```"
        #expect(readme.contains(expected), "README.md's \(name) example must match EmbeddingExampleTests.swift")
    }
}
