import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// An upstream that accepts the login and then never answers a request: every request through it must end
/// at the connect deadline, or at once when the client hangs up.
@Suite struct StalledUpstreamTests {
    /// A SOCKS5 "server" that selects no authentication and then reads and ignores everything.
    final class StalledUpstream: Sendable {
        let listener: TCPListener
        private let task: Task<Void, Never>
        private let state = State()

        /// What the serving task shares with the test.
        final class State: Sendable {
            let held = Mutex<[TCPConnection]>([])
            /// Requests received (and never answered).
            let requests = Atomic<Int>(0)
        }

        init() throws {
            let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
            self.listener = listener
            let state = self.state
            task = Task {
                await withDiscardingTaskGroup { group in
                    while let connection = try? await listener.accept() {
                        state.held.withLock { $0.append(connection) }
                        group.addTask {
                            var buffer = [UInt8](repeating: 0, count: 512)
                            guard let count = try? await connection.read(into: &buffer), count >= 3 else { return }
                            try? await connection.write([0x05, 0x00])
                            guard let count = try? await connection.read(into: &buffer), count > 0 else { return }
                            state.requests.add(1, ordering: .relaxed)
                            while let count = try? await connection.read(into: &buffer), count > 0 {}
                        }
                    }
                }
            }
        }

        var port: UInt16 { listener.localAddress.port }
        var requestsSeen: Int { state.requests.load(ordering: .relaxed) }

        func stop() {
            listener.close()
            task.cancel()
            state.held.withLock { $0.forEach { $0.close() } }
        }
    }

    static let requests: [(String, SOCKSCommand, SOCKSEndpoint, UpstreamProxy.UDPTransport)] = [
        ("CONNECT", .connect, SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 9), .udpOverTCP(.v2)),
        ("BIND", .bind, .unspecified, .udpOverTCP(.v2)),
        ("UDP ASSOCIATE by UoT", .udpAssociate, .unspecified, .udpOverTCP(.v2)),
        ("UDP ASSOCIATE by ASSOCIATE", .udpAssociate, .unspecified, .associate),
        ("UoT v2", .connect, SOCKSEndpoint(address: .domain(UoTVersion.v2.magicName), port: 0), .udpOverTCP(.v2)),
        ("UoT v1", .connect, SOCKSEndpoint(address: .domain(UoTVersion.v1.magicName), port: 0), .udpOverTCP(.v1)),
    ]

    /// A server forwarding through `upstream` by `transport`, with these deadlines.
    static func downstream(
        of upstream: StalledUpstream, _ transport: UpstreamProxy.UDPTransport, connectTimeout: Duration, handshakeTimeout: Duration = .seconds(10)
    ) throws -> ServerHarness {
        try ServerHarness {
            $0.connectTimeout = connectTimeout
            $0.handshakeTimeout = handshakeTimeout
            $0.upstream = UpstreamProxy(host: "127.0.0.1", port: upstream.port, udpTransport: transport)
        }
    }

    @Test(arguments: 0..<requests.count)
    func aStalledUpstreamGetsReply06AtTheConnectDeadline(request index: Int) async throws {
        let (name, command, destination, transport) = Self.requests[index]
        let upstream = try StalledUpstream()
        defer { upstream.stop() }
        // The connect deadline is longer than the handshake deadline: opening an egress through the
        // upstream (for UoT too) runs under the former, so the reply is 06, not a connection closed early.
        // The handshake deadline is what a loaded machine (the whole suite under AddressSanitizer) must
        // still meet with the greeting and request, so it is seconds, not one.
        let harness = try Self.downstream(of: upstream, transport, connectTimeout: .seconds(5), handshakeTimeout: .seconds(3))
        let (client, reply) = try await SOCKSTestClient.open(harness.address, command: command, to: destination)
        #expect(reply.code == .ttlExpired, "\(name)")
        #expect(try await client.closesWithin(.seconds(10)), "\(name)")
        await harness.stop()
    }

    @Test(arguments: 0..<requests.count)
    func aClientHangingUpEndsTheWaitOnAStalledUpstream(request index: Int) async throws {
        let (name, command, destination, transport) = Self.requests[index]
        let upstream = try StalledUpstream()
        defer { upstream.stop() }
        let harness = try Self.downstream(of: upstream, transport, connectTimeout: .seconds(600))
        do {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
            #expect(try await client.receive(exactly: 2) == [0x05, 0x00])
            try await client.send(SOCKSRequest(command: command, destination: destination).encoded())
            // The request has reached the upstream (which will never answer); then the client gives up.
            #expect(await ServerHarness.eventually(.seconds(10)) { upstream.requestsSeen == 1 }, "\(name)")
            // For CONNECT and BIND a FIN is a half-close the relay would pass on, so hanging up there means
            // a reset (sent as the client goes out of scope); a UDP or UoT client simply closes.
            if command == .connect && UoTVersion(destination: destination) == nil || command == .bind {
                client.connection.abort()
            } else {
                client.close()
            }
        }
        #expect(await ServerHarness.eventually(.seconds(10)) { harness.server.metrics.activeSessions == 0 }, "\(name)")
        #expect(harness.log.all.contains { $0.contains("command=\(command)") && $0.contains("outcome=client-closed") }, "\(name)")
        await harness.stop()
    }
}
