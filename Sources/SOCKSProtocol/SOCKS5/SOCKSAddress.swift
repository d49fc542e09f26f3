/// The host part of a SOCKS5 address: IPv4, IPv6, or a domain name (ATYP 01, 04, 03).
public enum SOCKSAddress: Hashable, Sendable, CustomStringConvertible {
    /// Four network-order bytes.
    case ipv4([UInt8])
    /// Sixteen network-order bytes.
    case ipv6([UInt8])
    /// A name of 1 to 255 bytes, without NUL.
    case domain(String)

    /// The ATYP byte that introduces this address on the wire.
    var addressType: SOCKSAddressType {
        switch self {
        case .ipv4: .ipv4
        case .ipv6: .ipv6
        case .domain: .domain
        }
    }

    public var description: String {
        switch self {
        case .ipv4(let bytes):
            return bytes.map { String($0) }.joined(separator: ".")
        case .ipv6(let bytes):
            return stride(from: 0, to: 16, by: 2)
                .map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        case .domain(let name):
            return name
        }
    }

    /// The all-zero IPv4 address, used in failure replies.
    static let zeroIPv4 = SOCKSAddress.ipv4([0, 0, 0, 0])
}

/// A SOCKS5 address and port, as carried in requests, replies and UDP headers.
public struct SOCKSEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: SOCKSAddress
    public var port: UInt16

    public init(address: SOCKSAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `0.0.0.0:0`: what a failure reply carries, and what a UDP ASSOCIATE request sends when the client
    /// does not yet know its own address.
    package static let unspecified = SOCKSEndpoint(address: .zeroIPv4, port: 0)

    /// How many bytes `ATYP ADDR PORT` takes on the wire (a domain is cut to 255 bytes, as `appendEndpoint` does).
    package var encodedCount: Int {
        switch address {
        case .ipv4(let bytes), .ipv6(let bytes): 1 + bytes.count + 2
        case .domain(let name): 1 + 1 + min(name.utf8.count, 255) + 2
        }
    }

    /// `host:port`, with IPv6 in brackets.
    public var description: String {
        if case .ipv6 = address { return "[\(address)]:\(port)" }
        return "\(address):\(port)"
    }
}
