import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// A UDP ASSOCIATE client for tests: the control connection, the relay address from the reply, and a UDP
/// socket of its own that sends SOCKS-framed datagrams.
package struct UDPTestClient: Sendable {
    package let control: SOCKSTestClient
    package let relay: SocketAddress
    package let socket: UDPSocket

    /// Associates (announcing `announcedPort`, 0 for unknown) and binds a UDP socket on `localIP`.
    package static func associate(
        _ server: SocketAddress, localIP: IPAddress = .ipv4Loopback, announcePort: Bool = false,
        credentials: SOCKSCredentials? = nil
    ) async throws -> UDPTestClient {
        let socket = try UDPSocket(bindingTo: SocketAddress(ip: localIP, port: 0))
        let announced = SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: announcePort ? socket.localAddress.port : 0)
        let (control, reply) = try await SOCKSTestClient.open(server, command: .udpAssociate, to: announced, credentials: credentials)
        guard reply.code == .succeeded, let relay = reply.bound.socketAddress else {
            throw SOCKSTestClient.Failure.unexpected(reply.encoded())
        }
        return UDPTestClient(control: control, relay: relay, socket: socket)
    }

    /// Sends `payload` to `destination` through the relay, with the given fragment number.
    package func send(_ payload: [UInt8], to destination: SOCKSEndpoint, fragment: UInt8 = 0) async throws {
        try await socket.send(SOCKSUDPHeader(fragment: fragment, endpoint: destination).encoded() + payload, to: relay)
    }

    // The default wait is a bound on a datagram that should come, not a speed test: the suite under
    // AddressSanitizer beside real client programs once took over 2 s for a round trip.
    /// The next datagram from the relay, raw (header included), or `nil` if none comes within `timeout`.
    package func receiveRaw(within timeout: Duration = .seconds(15)) async throws -> [UInt8]? {
        do {
            return try await withDeadline(timeout) { [socket] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                let (count, _) = try await socket.receive(into: &buffer)
                return Array(buffer[0..<count])
            }
        } catch SocketError.timedOut {
            return nil
        }
    }

    /// The next datagram's header and payload, or `nil` on timeout.
    package func receive(within timeout: Duration = .seconds(15)) async throws -> (header: SOCKSUDPHeader, payload: [UInt8])? {
        guard let raw = try await receiveRaw(within: timeout) else { return nil }
        let (header, start) = try SOCKSUDPHeader.parse(datagram: raw[...])
        return (header, Array(raw[start...]))
    }

    package func close() {
        control.close()
        socket.close()
    }
}
