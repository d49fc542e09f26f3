import AsyncSockets
import Synchronization

/// Recently resolved names of one UDP association, so a stream of datagrams to `example.com` costs one
/// lookup, not one per datagram; and the budget of lookups the association may have in flight.
final class DomainResolutionCache: Sendable {
    private struct Entry {
        var address: SocketAddress
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lookupsInFlight = Atomic<Int>(0)
    /// Lookups that may be in flight at once.
    let maximumLookups: Int
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration = .seconds(60), capacity: Int = 256, maximumLookups: Int = 32) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.maximumLookups = maximumLookups
    }

    /// Takes a slot for one lookup; `false` when all are taken (the datagram should be dropped).
    func beginLookup() -> Bool {
        if lookupsInFlight.add(1, ordering: .relaxed).newValue <= maximumLookups { return true }
        lookupsInFlight.subtract(1, ordering: .relaxed)
        return false
    }

    func endLookup() {
        lookupsInFlight.subtract(1, ordering: .relaxed)
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
