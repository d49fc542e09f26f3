import AsyncSockets
import SOCKSProtocol

extension SOCKSClient {
    /// Opens a UDP association (UDP ASSOCIATE): datagrams to any destination through the proxy, for as
    /// long as the association is open.
    ///
    /// The local UDP socket is bound to the IP of the control connection's local end, so datagrams come
    /// from the address the proxy saw the client at (proxies accept datagrams from that IP only).
    public func udpAssociate() async throws -> SOCKSUDPAssociation {
        let connection = try await openControl()
        do {
            let socket = try UDPSocket(bindingTo: SocketAddress(ip: connection.localAddress.unmapped.ip, port: 0))
            let announced = SOCKSEndpoint(
                address: socket.localAddress.ip.isIPv4 ? .ipv4([0, 0, 0, 0]) : .ipv6([UInt8](repeating: 0, count: 16)),
                port: socket.localAddress.port)
            let bound: SOCKSEndpoint
            do {
                bound = try await request(.udpAssociate, announced, on: connection)
            } catch {
                socket.close()
                throw error
            }
            // A relay that names no address (0.0.0.0 or ::) is on the proxy's own host.
            var relay = bound.socketAddress ?? SocketAddress(ip: connection.remoteAddress.unmapped.ip, port: bound.port)
            if relay.ip.isUnspecified { relay.ip = connection.remoteAddress.unmapped.ip }
            return SOCKSUDPAssociation(control: connection, socket: socket, relay: relay)
        } catch {
            connection.close()
            throw error
        }
    }
}

/// An open UDP association through a proxy. It lasts as long as `control` is open; `close()` ends it.
public struct SOCKSUDPAssociation: Sendable {
    /// The TCP connection whose life is the association's life.
    public let control: TCPConnection
    /// The local socket datagrams go out of and come back to.
    package let socket: UDPSocket
    /// The proxy's relay address, from the reply.
    public let relay: SocketAddress

    /// The largest SOCKS UDP header (IPv6); receive buffers need this much room beyond the payload.
    public static let maximumHeaderLength = 22

    /// Sends `payload` to `destination` through the relay.
    public func send(_ payload: some Collection<UInt8>, to destination: SOCKSEndpoint) async throws {
        var datagram = SOCKSUDPHeader(endpoint: destination).encoded()
        datagram.append(contentsOf: payload)
        try await socket.send(datagram, to: relay)
    }

    /// Receives the next datagram from the relay into `buffer`: returns the payload's range in the buffer
    /// and the source the proxy reported. Datagrams from anyone but the relay, fragments and malformed
    /// headers are skipped.
    public func receive(into buffer: inout [UInt8]) async throws -> (payload: Range<Int>, source: SOCKSEndpoint) {
        while true {
            let (count, sender) = try await socket.receive(into: &buffer)
            if let (payload, source) = unwrap(UDPSocket.Datagram(payload: buffer[0..<count], sender: sender)) {
                return (payload.indices, source)
            }
        }
    }

    /// The payload (a slice of `datagram`'s) and the source the proxy reported, for a datagram the local
    /// socket received; `nil` for one to skip: from anyone but the relay, a fragment, or a malformed header.
    package func unwrap(_ datagram: UDPSocket.Datagram) -> (payload: ArraySlice<UInt8>, source: SOCKSEndpoint)? {
        guard datagram.sender == relay,
              let (header, start) = try? SOCKSUDPHeader.parse(datagram: datagram.payload),
              header.fragment == 0
        else { return nil }
        return (datagram.payload[start...], header.endpoint)
    }

    /// Ends the association: closes the control connection and the socket.
    public func close() {
        control.close()
        socket.close()
    }
}
