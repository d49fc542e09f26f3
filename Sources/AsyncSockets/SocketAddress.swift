import Glibc

/// An IP address and port: the endpoint of a TCP or UDP socket.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16
    /// The IPv6 zone (interface index); 0 when there is none.
    public var scopeID: UInt32

    public init(ip: IPAddress, port: UInt16, scopeID: UInt32 = 0) {
        self.ip = ip
        self.port = port
        self.scopeID = scopeID
    }

    /// Parses a literal address and a port: `try SocketAddress("::1", port: 80)`.
    ///
    /// - Throws: `ParseError` when `ip` is not an IPv4 or IPv6 address literal (names are not resolved here;
    ///   `NameResolver` does that).
    public init(_ ip: String, port: UInt16) throws(ParseError) {
        guard let address = IPAddress(ip) else { throw ParseError(text: ip) }
        self.init(ip: address, port: port)
    }

    /// A text that is no IP address literal, given to `init(_:port:)`.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The text as given.
        public let text: String
        public var description: String { "'\(text)' is not an IPv4 or IPv6 address" }
    }

    /// The address family constant (`AF_INET` or `AF_INET6`) to create a socket for this address.
    public var family: Int32 { ip.isIPv4 ? AF_INET : AF_INET6 }

    /// This address with an IPv4-mapped IPv6 address replaced by its IPv4 form.
    public var unmapped: SocketAddress { SocketAddress(ip: ip.unmapped, port: port, scopeID: ip.isIPv6 && ip.unmapped.isIPv4 ? 0 : scopeID) }

    /// `192.0.2.1:80`, or `[2001:db8::1]:80` for IPv6.
    public var description: String {
        ip.isIPv4 ? "\(ip):\(port)" : "[\(ip)]:\(port)"
    }

    /// Reads an address that the kernel wrote into a `sockaddr_storage`; `nil` for a non-IP family.
    package init?(storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            var raw = address.sin_addr
            self.init(ip: withUnsafeBytes(of: &raw) { IPAddress(copying: $0)! }, port: UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            var raw = address.sin6_addr
            self.init(
                ip: withUnsafeBytes(of: &raw) { IPAddress(copying: $0)! },
                port: UInt16(bigEndian: address.sin6_port),
                scopeID: address.sin6_scope_id)
        default:
            return nil
        }
    }

    /// Calls `body` with this address laid out as a `sockaddr` and its length, for `bind`, `connect`, `sendto`.
    func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        // The pointer is valid only inside `body`: it points at a local that lives for this call.
        if ip.isIPv4 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin_addr) { target in ip.withUnsafeBytes { target.copyMemory(from: $0) } }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &address.sin6_addr) { target in ip.withUnsafeBytes { target.copyMemory(from: $0) } }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// Calls a kernel function that fills a `sockaddr` (`accept`, `getsockname`, `recvfrom`), then reads it.
    static func reading(_ fill: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> (Int32, SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // The pointer is valid only inside `fill`: it points at `storage`, a local of this call.
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { fill($0, &length) }
        }
        return (result, result >= 0 ? SocketAddress(storage: storage) : nil)
    }
}
