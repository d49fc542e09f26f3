import AsyncSockets
import Glibc
import Synchronization

/// This host's own addresses, for recognising a destination that is a wildcard listener of this server.
///
/// The interface list is read at most once every `refreshInterval` (a client can ask about it with every
/// CONNECT to a listening port; each read opens a netlink socket), and when it cannot be read at all
/// (`getifaddrs` fails, for example where netlink sockets are not allowed) every address counts as this
/// host's: the check fails closed, denying a destination on a listening port rather than risking a loop.
final class LocalAddresses: Sendable {
    static let shared = LocalAddresses()

    private enum Snapshot {
        case unread
        case read(Set<IPAddress>, at: Int64)
        case unreadable(at: Int64)
    }

    private let snapshot = Mutex(Snapshot.unread)
    private let refreshInterval: Duration = .seconds(5)

    /// Whether `ip` is loopback, unspecified, or an address of one of this host's interfaces (as read at
    /// most `refreshInterval` ago; true for every address when the interfaces cannot be read).
    func contains(_ ip: IPAddress) -> Bool {
        let ip = ip.unmapped
        if ip.isUnspecified || ip.isLoopback { return true }
        let now = MonotonicClock.nanoseconds()
        let interval = MonotonicClock.nanoseconds(of: refreshInterval)
        return snapshot.withLock { snapshot in
            switch snapshot {
            case .read(let addresses, let at) where now - at < interval:
                return addresses.contains(ip)
            case .unreadable(let at) where now - at < interval:
                return true
            case .unread, .read, .unreadable:
                guard let addresses = Self.interfaceAddresses() else {
                    snapshot = .unreadable(at: now)
                    return true
                }
                snapshot = .read(addresses, at: now)
                return addresses.contains(ip)
            }
        }
    }

    /// The IPv4 and IPv6 addresses of every interface (`getifaddrs`); nil when they cannot be read.
    static func interfaceAddresses() -> Set<IPAddress>? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
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
