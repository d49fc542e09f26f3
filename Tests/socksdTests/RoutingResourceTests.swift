import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport

/// Issue 21's resource proof: routed sessions, with the route's first upstream stopped and started again
/// between them (failover, down, probes, up), give back every descriptor and leave the resident set where
/// it was (`ResourceCheck`, as `DaemonResourceTests`).
@Suite(.serialized) struct RoutingResourceTests {
    static func echoOnce(through proxy: SocketAddress, to target: SocketAddress) async throws {
        let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(target))
        defer { client.close() }
        guard reply.code == .succeeded else { throw SocketError.nameNotFound("reply \(reply.code)") }
        try await client.send([1])
        _ = try await client.receive(exactly: 1)
    }

    @Test func routedSessionsWithAnUpstreamGoingDownAndUpGiveBackWhatTheyHeld() async throws {
        LoopbackPeers.raiseDescriptorLimit()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let microsocks = try await ExternalPeer("/usr/bin/microsocks", package: "microsocks") { port in ["-i", "127.0.0.1", "-p", "\(port)"] }
        defer { microsocks.stop() }
        // a goes down and comes back in front of microsocks, keeping its port; b is microsocks itself.
        let a = try SwitchableUpstream(forwardingTo: microsocks.address)
        defer { a.stop() }
        let b = microsocks
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(
            [
                "--upstream", "a=socks5://127.0.0.1:\(a.port)", "--upstream", "b=socks5://127.0.0.1:\(b.port)",
                "--route", "127.0.0.1=a,b", "--upstream-failures", "2", "--upstream-probe-interval", "0.2",
            ],
            environment: ResourceCheck.leakRevealingEnvironment)
        let started = Atomic<Int>(0)
        var check = ResourceCheck(subjects: [ResourceCheck.Subject(name: "socksd", daemon: daemon)], residentGrowthLimitKiB: DaemonResourceTests.residentGrowthLimitKiB)
        check.warmUpSessions = 200
        check.sessions = 400
        try await check.run { _ in
            // Global turns: a goes down and comes back once in the warm-up and once among the measured sessions.
            let turn = started.wrappingAdd(1, ordering: .relaxed).oldValue
            if turn == 50 || turn == 300 { a.goDown() }
            if turn == 120 || turn == 450 { a.comeUp() }
            // A session that a was carrying when it was stopped ends with it: the client tries again once,
            // and is failed over to b.
            do {
                try await Self.echoOnce(through: proxy, to: echo.address)
            } catch {
                try await Self.echoOnce(through: proxy, to: echo.address)
            }
        }
        #expect(await daemon.waitForLog { $0.contains { $0.contains("upstream a is down: ") } && $0.contains { $0.contains("upstream a is up") } })
        #expect(try await daemon.stop() == 0)
    }
}
