import AsyncSockets
import SOCKSProtocol

extension SOCKSEndpoint {
    /// The endpoint for a socket address, IPv4-mapped IPv6 written as plain IPv4 (RFC 1928 replies want the
    /// address a client can use).
    public init(_ address: SocketAddress) {
        let plain = address.unmapped
        self.init(address: plain.ip.isIPv4 ? .ipv4(plain.ip.bytes) : .ipv6(plain.ip.bytes), port: plain.port)
    }

    /// The socket address, for a literal IPv4 or IPv6 endpoint; `nil` for a domain.
    public var socketAddress: SocketAddress? {
        switch address {
        case .ipv4(let bytes), .ipv6(let bytes):
            IPAddress(bytes: bytes).map { SocketAddress(ip: $0, port: port) }
        case .domain:
            nil
        }
    }
}
