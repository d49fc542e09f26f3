import AsyncSockets
import Glibc

/// This host's own addresses, for recognising a destination that is a wildcard listener of this server.
enum LocalAddresses {
    /// Whether `ip` is loopback, unspecified, or an address of one of this host's interfaces now.
    ///
    /// Asked only for destinations on a listening port, so reading the interfaces each time (no cache that
    /// could miss an address added later) costs nothing on the common path.
    static func contains(_ ip: IPAddress) -> Bool {
        let ip = ip.unmapped
        if ip.isUnspecified || ip.isLoopback { return true }
        return interfaceAddresses().contains(ip)
    }

    /// The IPv4 and IPv6 addresses of every interface (`getifaddrs`).
    static func interfaceAddresses() -> Set<IPAddress> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        // The list is valid until freeifaddrs, which runs after the walk; each ifa_addr points into it and
        // is read only through the family's own struct size.
        defer { freeifaddrs(list) }
        var addresses = Set<IPAddress>()
        var entry = list
        while let current = entry {
            if let socketAddress = current.pointee.ifa_addr {
                switch Int32(socketAddress.pointee.sa_family) {
                case AF_INET:
                    var raw = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) }) { addresses.insert(ip) }
                case AF_INET6:
                    var raw = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &raw) { Array($0) }) { addresses.insert(ip.unmapped) }
                default:
                    break
                }
            }
            entry = current.pointee.ifa_next
        }
        return addresses
    }
}
