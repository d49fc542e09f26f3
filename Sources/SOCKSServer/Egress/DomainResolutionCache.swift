import AsyncSockets
import Synchronization

/// Recently resolved names of one UDP relay, so a stream of datagrams to `example.com` costs one lookup,
/// not one per datagram.
final class DomainResolutionCache: Sendable {
    private struct Entry {
        var address: SocketAddress
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration = .seconds(60), capacity: Int = 256) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The cached address for `name`, with `port` filled in; `nil` if unknown or expired.
    func lookUp(_ name: String, port: UInt16) -> SocketAddress? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[name] else { return nil }
            guard entry.expires > now else {
                entries[name] = nil
                return nil
            }
            var address = entry.address
            address.port = port
            return address
        }
    }

    func store(_ name: String, address: SocketAddress) {
        let expires = ContinuousClock.now + lifetime
        entries.withLock { entries in
            // A full cache is emptied rather than evicted entry by entry: names churn rarely in one association.
            if entries.count >= capacity && entries[name] == nil { entries.removeAll(keepingCapacity: true) }
            entries[name] = Entry(address: address, expires: expires)
        }
    }
}
