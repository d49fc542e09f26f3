import AsyncSockets
import Foundation
import SOCKSClient
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// Issue 21: UDP and UoT routed per datagram by its destination. One association holds an egress per route
/// it has used: a UoT stream or UDP ASSOCIATE per upstream (socksd upstreams here), a socket for direct.
@Suite struct RoutedDatagramTests {
    /// The two ways a client's datagrams reach the server.
    enum ClientKind: String, CaseIterable, Sendable {
        case udpAssociate
        case uot
    }

    /// Datagrams to several destinations over one association or UoT stream, answered in turn.
    struct Client {
        let send: @Sendable ([UInt8], SOCKSEndpoint) async throws -> Void
        /// The next reply's payload and source, nil when none comes within the bound.
        let receive: @Sendable () async throws -> ([UInt8], SOCKSEndpoint)?
        let close: @Sendable () -> Void

        static func open(_ kind: ClientKind, to server: SocketAddress) async throws -> Client {
            switch kind {
            case .udpAssociate:
                let client = try await UDPTestClient.associate(server)
                return Client(
                    send: { try await client.send($0, to: $1) },
                    receive: { try await client.receive(within: .seconds(10)).map { ($0.payload, $0.header.endpoint) } },
                    close: { client.close() })
            case .uot:
                let stream = try await SOCKSClient(host: "127.0.0.1", port: server.port).udpOverTCP(version: .v2)
                let frames = FrameReader(stream.frames().makeAsyncIterator())
                return Client(
                    send: { try await stream.send($0, to: $1) },
                    receive: {
                        do {
                            return try await withDeadline(.seconds(10)) {
                                guard let frame = try await frames.next(), let source = frame.endpoint else { return nil }
                                return (frame.payload, source)
                            }
                        } catch SocketError.timedOut {
                            return nil
                        }
                    },
                    close: { stream.close() })
            }
        }

        /// Sends `payload` to `destination` until its echo comes back (a few tries: UDP may lose one).
        func echo(_ payload: [UInt8], via destination: SOCKSEndpoint) async throws -> Bool {
            for _ in 0..<4 {
                try await send(payload, destination)
                while let (echoed, source) = try await receive() {
                    if echoed == payload && source == destination { return true }
                }
            }
            return false
        }
    }

    /// One reader of a UoT stream's frames, shared by the closures above (only one reads at a time).
    actor FrameReader {
        var frames: UoTClientStream.Frames.Iterator
        init(_ frames: UoTClientStream.Frames.Iterator) { self.frames = frames }
        func next() async throws -> UoTClientStream.Frames.Element? {
            var iterator = frames
            defer { frames = iterator }
            return try await iterator.next()
        }
    }

    /// A socksd upstream whose rules deny `denied` (so a datagram routed the wrong way gets no echo).
    static func upstream(denying denied: SocketAddress) throws -> ServerHarness {
        try ServerHarness {
            $0.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "127.0.0.1:\(denied.port)")])
        }
    }

    @Test(arguments: ClientKind.allCases)
    func datagramsOfOneAssociationLeaveByTheirDestinationsRoutes(client kind: ClientKind) async throws {
        let echoA = try LoopbackPeers.startUDPEcho()
        defer { echoA.stop() }
        let echoB = try LoopbackPeers.startUDPEcho()
        defer { echoB.stop() }
        let echoDirect = try LoopbackPeers.startUDPEcho()
        defer { echoDirect.stop() }
        // a carries UoT and may not reach b's echo; b carries UDP ASSOCIATE and may not reach a's.
        let a = try Self.upstream(denying: echoB.address)
        let b = try Self.upstream(denying: echoA.address)
        let harness = try ServerHarness {
            $0.upstreams = [
                "a": UpstreamProxy(host: "127.0.0.1", port: a.address.port, udpTransport: .udpOverTCP(.v2)),
                "b": UpstreamProxy(host: "127.0.0.1", port: b.address.port, udpTransport: .associate),
            ]
            $0.routes = [
                try Route(parsing: "127.0.0.1:\(echoA.address.port)=a"),
                try Route(parsing: "127.0.0.1:\(echoB.address.port)=b"),
                try Route(parsing: "127.0.0.1:\(echoDirect.address.port)=direct"),
            ]
        }
        let client = try await Client.open(kind, to: harness.address)
        // In turn, twice: each route's egress is opened once and then used again.
        for round in 0..<2 {
            for (index, echo) in [echoA, echoB, echoDirect].enumerated() {
                let payload = [UInt8(round), UInt8(index)]
                #expect(try await client.echo(payload, via: SOCKSEndpoint(echo.address)), "\(kind): round \(round), echo \(index)")
            }
        }
        client.close()
        // Each upstream carried one session of its kind; the access line names the first route used.
        #expect(await ServerHarness.eventually(.seconds(10)) { a.log.all.contains { $0.contains("outcome=uot-v2") } }, "a: \(a.log.all)")
        #expect(await ServerHarness.eventually(.seconds(10)) { b.log.all.contains { $0.contains("command=udp-associate") } }, "b: \(b.log.all)")
        #expect(a.log.all.filter { $0.contains("outcome=") && $0.contains("destination=") }.count == 1)
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.log.all.contains { $0.contains(" via=a ") } }, "\(harness.log.all)")
        // The direct datagrams left from this server's own socket, not through an upstream's.
        #expect(echoDirect.senders.all.count >= 2)
        await harness.stop()
        await a.stop()
        await b.stop()
    }

    /// A route's first upstream cannot be reached: the association's datagrams fail over to the next, and
    /// the failure counts toward the first's health (down after one here); with every upstream of a route
    /// down, its datagrams are dropped while other routes go on.
    @Test func anUpstreamThatCannotBeOpenedFailsOverAndCountsAFailure() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let other = try LoopbackPeers.startUDPEcho()
        defer { other.stop() }
        let b = try ServerHarness()
        let dead = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(dead) {} }
        let harness = try ServerHarness {
            $0.upstreams = [
                "dead": UpstreamProxy(host: "127.0.0.1", port: dead.port),
                "b": UpstreamProxy(host: "127.0.0.1", port: b.address.port, udpTransport: .associate),
            ]
            $0.routes = [
                try Route(parsing: "127.0.0.1:\(echo.address.port)=dead,b"),
                try Route(parsing: "127.0.0.1:\(other.address.port)=dead"),
            ]
            $0.upstreamFailureLimit = 1
            $0.upstreamProbeInterval = .seconds(3600)
        }
        let client = try await Client.open(.udpAssociate, to: harness.address)
        #expect(try await client.echo([1], via: SOCKSEndpoint(echo.address)))
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("upstream dead is down: ") } })
        #expect(harness.server.metrics.prometheusText(version: "t").contains("socksd_upstream_up{upstream=\"dead\"} 0"))
        // Every upstream of the other route is down: dropped, and the association goes on.
        try await client.send([2], SOCKSEndpoint(other.address))
        #expect(try await client.echo([3], via: SOCKSEndpoint(echo.address)))
        #expect(other.senders.all.isEmpty)
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains(" via=b ") && $0.contains("command=udp-associate") } }, "\(harness.log.all)")
        #expect(await ServerHarness.eventually { b.log.all.contains { $0.contains("command=udp-associate") } })
        await harness.stop()
        await b.stop()
    }

    /// An upstream stops while an association's UoT stream goes through it: the stream's end ends that
    /// egress, and the route's next datagram is routed again — a fails to open, counts a failure (down), and
    /// b carries the rest of the same association.
    @Test func anAssociationFailsOverWhenItsUpstreamStopsUnderIt() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let upstreamA = try ServerHarness()
        let a = try SwitchableUpstream(forwardingTo: upstreamA.address)
        defer { a.stop() }
        let b = try ServerHarness()
        let harness = try ServerHarness {
            $0.upstreams = [
                "a": UpstreamProxy(host: "127.0.0.1", port: a.port, udpTransport: .udpOverTCP(.v2)),
                "b": UpstreamProxy(host: "127.0.0.1", port: b.address.port, udpTransport: .associate),
            ]
            $0.routes = [try Route(parsing: "127.0.0.1=a,b")]
            $0.upstreamFailureLimit = 1
            $0.upstreamProbeInterval = .seconds(3600)
        }
        let client = try await Client.open(.uot, to: harness.address)
        #expect(try await client.echo([1], via: SOCKSEndpoint(echo.address)))
        a.goDown()
        #expect(try await client.echo([2], via: SOCKSEndpoint(echo.address)))
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("upstream a is down: ") } })
        #expect(try await client.echo([3], via: SOCKSEndpoint(echo.address)))
        client.close()
        #expect(await ServerHarness.eventually(.seconds(10)) { b.log.all.contains { $0.contains("command=udp-associate") } }, "b: \(b.log.all)")
        // The access line names the first route used.
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.log.all.contains { $0.contains(" via=a ") && $0.contains("outcome=uot-v2") } }, "\(harness.log.all)")
        await harness.stop()
        await upstreamA.stop()
        await b.stop()
    }

    /// Dante as a routed upstream, leaving from 127.0.0.3 (its `external`), beside microsocks leaving from
    /// 127.0.0.2: CONNECT by its destination through either, and the datagrams of one association through
    /// Dante's UDP ASSOCIATE or direct, each by its destination (the targets see which carried what).
    @Test func danteCarriesTheRoutesThatNameIt() async throws {
        let dante = try await ExternalPeer("/usr/sbin/danted", package: "dante-server") { port in
            let config = FileManager.default.temporaryDirectory.appendingPathComponent("danted-\(UUID().uuidString).conf").path
            try """
                logoutput: stderr
                internal: 127.0.0.1 port = \(port)
                external: 127.0.0.3
                socksmethod: none
                clientmethod: none
                user.privileged: root
                user.unprivileged: nobody
                client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
                socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect bind udpassociate bindreply udpreply }

                """.write(toFile: config, atomically: true, encoding: .utf8)
            return ["-f", config, "-N", "1"]
        }
        defer { dante.stop() }
        let microsocks = try await RoutingTests.microsocks(leavingFrom: "127.0.0.2")
        defer { microsocks.stop() }
        let target = try RoutingTests.WhoAmI()
        defer { target.stop() }
        let echoDante = try LoopbackPeers.startUDPEcho()
        defer { echoDante.stop() }
        let echoDirect = try LoopbackPeers.startUDPEcho()
        defer { echoDirect.stop() }
        let harness = try ServerHarness {
            $0.upstreams = ["dante": RoutingTests.upstream(dante), "m": RoutingTests.upstream(microsocks)]
            $0.routes = [
                try Route(parsing: "127.0.0.1:\(target.port)=dante"),
                try Route(parsing: "localhost=m"),
                try Route(parsing: "127.0.0.1:\(echoDante.address.port)=dante"),
                try Route(parsing: "127.0.0.1:\(echoDirect.address.port)=direct"),
            ]
        }
        let viaDante = try await RoutingTests.source(through: harness.address, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: target.port))
        #expect(viaDante.0 == "127.0.0.3", "reply \(viaDante.1); Dante's log:\n\(dante.log.suffix(2000))")
        let viaMicrosocks = try await RoutingTests.source(through: harness.address, to: SOCKSEndpoint(address: .domain("localhost"), port: target.port))
        #expect(viaMicrosocks.0 == "127.0.0.2")

        let client = try await Client.open(.udpAssociate, to: harness.address)
        #expect(try await client.echo([1], via: SOCKSEndpoint(echoDante.address)), "Dante's log:\n\(dante.log.suffix(2000))")
        #expect(try await client.echo([2], via: SOCKSEndpoint(echoDirect.address)))
        client.close()
        #expect(echoDante.senders.all.allSatisfy { $0.unmapped.ip == IPAddress(bytes: [127, 0, 0, 3]) } && !echoDante.senders.all.isEmpty, "\(echoDante.senders.all)")
        #expect(echoDirect.senders.all.allSatisfy { $0.unmapped.ip == .ipv4Loopback } && !echoDirect.senders.all.isEmpty, "\(echoDirect.senders.all)")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("command=udp-associate") && $0.contains(" via=dante ") } }, "\(harness.log.all)")
        await harness.stop()
    }

    /// Round-robin spreads associations, not the datagrams of one: each of two associations opens one egress,
    /// through a different upstream, and sends all its datagrams through it.
    @Test func roundRobinSpreadsAssociationsAndEachKeepsItsUpstream() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let a = try ServerHarness()
        let b = try ServerHarness()
        let harness = try ServerHarness {
            $0.upstreams = [
                "a": UpstreamProxy(host: "127.0.0.1", port: a.address.port, udpTransport: .associate),
                "b": UpstreamProxy(host: "127.0.0.1", port: b.address.port, udpTransport: .associate),
            ]
            $0.routes = [try Route(parsing: "127.0.0.1=a,b", strategy: .roundRobin)]
        }
        for round in 0..<2 {
            let client = try await Client.open(.udpAssociate, to: harness.address)
            for index in 0..<3 {
                #expect(try await client.echo([UInt8(round), UInt8(index)], via: SOCKSEndpoint(echo.address)))
            }
            client.close()
        }
        func associations(_ upstream: ServerHarness) -> Int { upstream.log.all.filter { $0.contains("command=udp-associate") }.count }
        #expect(await ServerHarness.eventually(.seconds(10)) { associations(a) == 1 && associations(b) == 1 }, "a: \(a.log.all); b: \(b.log.all)")
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains(" via=a ") } && harness.log.all.contains { $0.contains(" via=b ") } })
        await harness.stop()
        await a.stop()
        await b.stop()
    }

    /// Without routes nothing changes: one egress, opened before the reply (the default upstream's, or direct).
    @Test func withoutRoutesAnAssociationKeepsOneEgress() async throws {
        let harness = try ServerHarness()
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let client = try await Client.open(.udpAssociate, to: harness.address)
        #expect(try await client.echo([1], via: SOCKSEndpoint(echo.address)))
        client.close()
        #expect(await ServerHarness.eventually { harness.log.all.contains { $0.contains("command=udp-associate") && $0.contains(" via=direct ") } })
        await harness.stop()
    }
}
