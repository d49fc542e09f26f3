import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// Routing by destination across upstreams (issue 21), against microsocks instances that leave from
/// 127.0.0.2 and 127.0.0.3 (`-b`), so the target sees which one carried a session.
@Suite struct RoutingTests {
    /// A TCP server that writes each client's address (`127.0.0.2\n`) and closes.
    final class WhoAmI: Sendable {
        let listener: TCPListener
        let task: Task<Void, Never>

        init() throws {
            let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
            self.listener = listener
            task = Task {
                do {
                    for try await connection in listener.connections() {
                        try? await connection.write(Array("\(connection.remoteAddress.unmapped.ip)\n".utf8))
                        connection.close()
                    }
                } catch {}
            }
        }

        var port: UInt16 { listener.localAddress.port }

        func stop() {
            listener.close()
            task.cancel()
        }
    }

    static func microsocks(leavingFrom source: String) async throws -> ExternalPeer {
        try await ExternalPeer("/usr/bin/microsocks", package: "microsocks") { port in
            ["-i", "127.0.0.1", "-p", "\(port)", "-b", source]
        }
    }

    static func upstream(_ peer: ExternalPeer) -> UpstreamProxy {
        UpstreamProxy(host: "127.0.0.1", port: peer.port, udpTransport: .associate)
    }

    /// The address the target saw, through `server`; nil when the CONNECT failed (with its reply code).
    static func source(through server: SocketAddress, to target: SOCKSEndpoint) async throws -> (String?, SOCKSReplyCode) {
        let (client, reply) = try await SOCKSTestClient.open(server, to: target)
        defer { client.close() }
        guard reply.code == .succeeded else { return (nil, reply.code) }
        let text = String(decoding: try await client.receiveUntilEOF(), as: UTF8.self)
        return (text.trimmingCharacters(in: .newlines), reply.code)
    }

    @Test func routesSendDestinationsThroughTheirUpstreamsAndSayVia() async throws {
        let a = try await Self.microsocks(leavingFrom: "127.0.0.2")
        defer { a.stop() }
        let b = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { b.stop() }
        let target = try WhoAmI()
        defer { target.stop() }
        let harness = try ServerHarness {
            $0.upstreams = ["a": Self.upstream(a), "b": Self.upstream(b)]
            $0.upstream = Self.upstream(b)
            $0.routes = [
                try Route(parsing: "localhost=a"),
                try Route(parsing: "127.0.0.1:\(target.port)=direct"),
            ]
        }
        // A name: by its name, through a.
        let byName = try await Self.source(through: harness.address, to: SOCKSEndpoint(address: .domain("localhost"), port: target.port))
        #expect(byName.0 == "127.0.0.2")
        // An address a route sends direct.
        let direct = try await Self.source(through: harness.address, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: target.port))
        #expect(direct.0 == "127.0.0.1")
        // No route matches: the default upstream.
        let fallback = try await Self.source(through: harness.address, to: SOCKSEndpoint(address: .domain("127.0.0.1.nip.invalid"), port: target.port))
        #expect(fallback.1 != .succeeded)  // the default upstream (microsocks) cannot resolve it: its own answer
        #expect(await ServerHarness.eventually {
            let lines = harness.log.all
            return lines.contains { $0.contains("destination=localhost:\(target.port) via=a ") }
                && lines.contains { $0.contains("destination=127.0.0.1:\(target.port) via=direct ") }
                && lines.contains { $0.contains("destination=127.0.0.1.nip.invalid:\(target.port) via=default ") }
        })
        await harness.stop()
    }

    @Test func failoverWhenAnUpstreamStopsThenDownAllDownAndBackUp() async throws {
        let microsocksA = try await Self.microsocks(leavingFrom: "127.0.0.2")
        defer { microsocksA.stop() }
        let microsocksB = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { microsocksB.stop() }
        // Each stops and starts again in front of its microsocks, keeping its port.
        let a = try SwitchableUpstream(forwardingTo: microsocksA.address)
        defer { a.stop() }
        let b = try SwitchableUpstream(forwardingTo: microsocksB.address)
        defer { b.stop() }
        let target = try WhoAmI()
        defer { target.stop() }
        let harness = try ServerHarness {
            $0.upstreams = ["a": UpstreamProxy(host: "127.0.0.1", port: a.port), "b": UpstreamProxy(host: "127.0.0.1", port: b.port)]
            $0.routes = [try Route(parsing: "*=a,b")]
            $0.upstreamFailureLimit = 2
            $0.upstreamProbeInterval = .milliseconds(100)
        }
        let destination = SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: target.port)
        #expect(try await Self.source(through: harness.address, to: destination).0 == "127.0.0.2")
        a.goDown()
        // a hangs up at once now: each session fails over to b; after two failures a is down and skipped.
        for _ in 0..<3 {
            #expect(try await Self.source(through: harness.address, to: destination).0 == "127.0.0.3")
        }
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("upstream a is down: ") } })
        #expect(harness.log.all.filter { $0.contains("upstream a is down") }.count == 1)
        #expect(harness.server.metrics.prometheusText(version: "t").contains("socksd_upstream_up{upstream=\"a\"} 0"))
        // Both down: reply 03.
        b.goDown()
        _ = try await Self.source(through: harness.address, to: destination)
        _ = try await Self.source(through: harness.address, to: destination)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("upstream b is down: ") } })
        #expect(try await Self.source(through: harness.address, to: destination).1 == .networkUnreachable)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("via=a ") && $0.contains("outcome=failed(03") } })
        // a comes back: the probe finds it, and sessions go through it again.
        a.comeUp()
        #expect(await ServerHarness.eventually(.seconds(20)) { harness.log.all.contains { $0.contains("upstream a is up") } })
        #expect(try await Self.source(through: harness.address, to: destination).0 == "127.0.0.2")
        let metrics = harness.server.metrics.prometheusText(version: "t")
        #expect(metrics.contains("socksd_upstream_up{upstream=\"a\"} 1"))
        #expect(metrics.contains("socksd_upstream_up{upstream=\"b\"} 0"))
        #expect(metrics.contains("socksd_upstream_sessions_total{upstream=\"b\",outcome=\"succeeded\"} 3"))
        #expect(metrics.contains("socksd_upstream_connect_seconds_count{upstream=\"a\"} 2"))
        await harness.stop()
    }

    @Test func roundRobinSpreadsSessionsOverTheUpstreams() async throws {
        let a = try await Self.microsocks(leavingFrom: "127.0.0.2")
        defer { a.stop() }
        let b = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { b.stop() }
        let target = try WhoAmI()
        defer { target.stop() }
        let harness = try ServerHarness {
            $0.upstreams = ["a": Self.upstream(a), "b": Self.upstream(b)]
            $0.routes = [try Route(parsing: "*=a,b", strategy: .roundRobin)]
        }
        let destination = SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: target.port)
        var seen: [String] = []
        for _ in 0..<4 {
            seen.append(try await Self.source(through: harness.address, to: destination).0 ?? "failed")
        }
        #expect(seen.filter { $0 == "127.0.0.2" }.count == 2)
        #expect(seen.filter { $0 == "127.0.0.3" }.count == 2)
        await harness.stop()
    }

    @Test func anUpstreamsRefusalIsPassedOnNotFailedOver() async throws {
        let a = try ServerHarness()  // a socksd upstream that refuses what its rules deny
        let b = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { b.stop() }
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let harness = try ServerHarness {
            $0.upstreams = ["a": UpstreamProxy(host: "127.0.0.1", port: a.address.port), "b": Self.upstream(b)]
            $0.routes = [try Route(parsing: "*=a,b")]
        }
        let (_, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: refusing.port))
        #expect(reply.code == .connectionRefused)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("via=a ") && $0.contains("outcome=failed(05") } })
        await harness.stop()
        await a.stop()
    }

    @Test func aRouteNeverBypassesTheRules() async throws {
        let b = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { b.stop() }
        let harness = try ServerHarness {
            $0.upstreams = ["b": Self.upstream(b)]
            $0.routes = [try Route(parsing: "*=b")]
            $0.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "localhost")])
        }
        let (_, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("localhost"), port: 9))
        #expect(reply.code == .notAllowed)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("destination=localhost:9 via=- ") } })
        await harness.stop()
    }

    @Test func usersRoutesComeBeforeTheServers() async throws {
        let a = try await Self.microsocks(leavingFrom: "127.0.0.2")
        defer { a.stop() }
        let b = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { b.stop() }
        let target = try WhoAmI()
        defer { target.stop() }
        let harness = try ServerHarness {
            $0.users = try UserDatabase(["alice": "pw", "bob": "pw"])
            $0.upstreams = ["a": Self.upstream(a), "b": Self.upstream(b)]
            $0.routes = [try Route(parsing: "*=a")]
            $0.userPolicies = ["bob": UserPolicy(routes: [try Route(parsing: "127.0.0.1=b")])]
        }
        func source(as user: String, to destination: SOCKSEndpoint) async throws -> String? {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            defer { client.close() }
            try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
            _ = try await client.receive(exactly: 2)
            try await client.send(SOCKSCredentials(username: Array(user.utf8), password: Array("pw".utf8)).encoded())
            _ = try await client.receive(exactly: 2)
            try await client.send(SOCKSRequest(command: .connect, destination: destination).encoded())
            guard try await client.receive(SOCKSReply.parse).code == .succeeded else { return nil }
            return String(decoding: try await client.receiveUntilEOF(), as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        let address = SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: target.port)
        #expect(try await source(as: "alice", to: address) == "127.0.0.2")
        #expect(try await source(as: "bob", to: address) == "127.0.0.3")
        // bob's routes do not match a name: the server's route.
        #expect(try await source(as: "bob", to: SOCKSEndpoint(address: .domain("localhost"), port: target.port)) == "127.0.0.2")
        await harness.stop()
    }

    /// A reload: new routes apply to new sessions, an open session keeps its upstream, and an upstream
    /// whose URL is unchanged keeps its health (a changed one starts up).
    @Test func reloadKeepsOpenSessionsAndTheHealthOfUnchangedUpstreams() async throws {
        let b = try await Self.microsocks(leavingFrom: "127.0.0.3")
        defer { b.stop() }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let dead = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(dead) {} }
        var configuration = SOCKSServer.Configuration()
        let harness = try ServerHarness {
            $0.upstreams = ["a": UpstreamProxy(host: "127.0.0.1", port: dead.port), "b": Self.upstream(b)]
            $0.routes = [try Route(parsing: "localhost=a"), try Route(parsing: "127.0.0.1=b")]
            $0.upstreamFailureLimit = 1
            $0.upstreamProbeInterval = .seconds(3600)
            configuration = $0
        }
        // a fails once: down.
        let (_, failed) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(address: .domain("localhost"), port: echo.address.port))
        #expect(failed.code != .succeeded)
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("upstream a is down") } })
        // A session through b, open across the reload.
        let (open, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)

        var rerouted = configuration
        rerouted.routes = [try Route(parsing: "*=direct")]
        try await harness.server.reload(rerouted)
        try await open.send([7, 8])
        #expect(try await open.receive(exactly: 2) == [7, 8])
        open.close()
        #expect(harness.server.metrics.prometheusText(version: "t").contains("socksd_upstream_up{upstream=\"a\"} 0"))
        let (direct, directReply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address))
        #expect(directReply.code == .succeeded)
        direct.close()
        #expect(await ServerHarness.eventually {
            harness.log.all.contains { $0.contains("destination=127.0.0.1:\(echo.address.port) via=b ") }
                && harness.log.all.contains { $0.contains("destination=127.0.0.1:\(echo.address.port) via=direct ") }
        })
        // A new URL for a: a new upstream, up.
        var moved = rerouted
        moved.upstreams["a"] = Self.upstream(b)
        try await harness.server.reload(moved)
        #expect(harness.server.metrics.prometheusText(version: "t").contains("socksd_upstream_up{upstream=\"a\"} 1"))
        await harness.stop()
    }

    @Test func aRouteNamingAnUnknownUpstreamIsRefused() throws {
        var configuration = SOCKSServer.Configuration()
        configuration.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0)]
        configuration.routes = [try Route(parsing: "*=nowhere")]
        #expect(throws: SOCKSServerError.unknownUpstream(route: "*=nowhere", name: "nowhere")) { try SOCKSServer(configuration: configuration) }
    }

    @Test func routeSyntax() throws {
        let route = try Route(parsing: "[fd00::/8]:22=a,b")
        #expect(route.target.target == "[fd00::/8]:22")
        #expect(route.via == .upstreams(["a", "b"]))
        #expect(try Route(parsing: "private=direct").via == .direct)
        #expect(throws: RouteSyntaxError.self) { try Route(parsing: "example.com") }
        #expect(throws: RouteSyntaxError.self) { try Route(parsing: "example.com=") }
        #expect(throws: RouteSyntaxError.self) { try Route(parsing: "example.com=a,direct") }
        #expect(throws: RouteSyntaxError.self) { try Route(parsing: "*.example.com=a") }
    }
}
