import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// Issue 20, item 1: an embedder passes loops it owns; the server and its sessions run on them, and once
/// the server has returned, `shutdown()` ends them (threads joined). The shared loops' whole lifecycle is
/// `LoopLifecycleTests`' (in a process of its own).
@Suite struct EventLoopOwnershipTests {
    @Test func aServerRunsOnAnEmbeddersLoopsUntilTheyAreShutDown() async throws {
        let loops = try EventLoopGroup(loopCount: 2)
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try ServerHarness(eventLoops: loops)
        #expect(harness.server.eventLoops === loops)
        let listeners = await harness.server.currentGroups().flatMap(\.listeners)
        #expect(listeners.count == 2 && listeners.allSatisfy { listener in loops.loops.contains { $0 === listener.eventLoop } })

        let proxy = SOCKSClient(host: "127.0.0.1", port: harness.address.port)
        let tunnel = try await proxy.connect(to: SOCKSEndpoint(echo.address))
        try await tunnel.connection.write(Array("hello".utf8))
        var echoed: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16)
        while echoed.count < 5 {
            let count = try await tunnel.connection.read(into: &buffer)
            try #require(count > 0)
            echoed += buffer[0..<count]
        }
        #expect(echoed == Array("hello".utf8))
        // The owner, the server, its two listeners and the session's two sockets at least.
        #expect(loops.users >= 6)
        tunnel.connection.close()
        harness.server.shutdown()
        try await harness.task.value

        await loops.shutdown()
        #expect(loops.loops.allSatisfy { $0.hasStopped })
        await loops.shutdown()  // a second call returns at once
        #expect(throws: SocketError.eventLoopsShutDown) {
            try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0), loop: loops.loops[0])
        }
        var configuration = SOCKSServer.Configuration()
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0)]
        #expect(throws: SOCKSServerError.eventLoopsUnavailable(.eventLoopsShutDown)) {
            try SOCKSServer(configuration: configuration, eventLoops: loops)
        }
    }

    /// A server made and dropped without `run()` gives its use of the loops back.
    @Test func aServerThatNeverRanGivesItsLoopsBack() async throws {
        let loops = try EventLoopGroup(loopCount: 1)
        do {
            var configuration = SOCKSServer.Configuration()
            configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0)]
            let server = try SOCKSServer(configuration: configuration, eventLoops: loops)
            #expect(loops.users == 3)  // the owner, the server, its listener
            _ = server
        }
        #expect(loops.users == 1)
        await loops.shutdown()
        #expect(loops.loops.allSatisfy { $0.hasStopped })
    }
}
