import AsyncSockets
import Synchronization

/// The addresses of this server's own sockets that open and close while it runs: its proxy and metrics
/// listeners (TCP; a reload adds and removes them), and every UDP socket of its relays — each UDP
/// ASSOCIATE's client-facing relay socket and the outgoing socket of each association and UoT stream.
///
/// The access policy denies a destination among them (no loops through this server), and a UDP
/// association never takes a datagram from one of them for its client's: otherwise one user could send,
/// through her own association, to another's relay socket, arrive from this host's own address and be
/// latched as that client.
///
/// Each socket registers when it opens, and its `Registration` ends when it closes. A lookup is a probe by
/// port under a lock, with no allocation; the address is looked at only when the port is one of these.
final class OwnAddresses: Sendable {
    /// Which table an address is in: a TCP port and a UDP port of the same number are different sockets.
    enum Transport: Sendable {
        case tcp
        case udp
    }

    /// The sockets bound to one port.
    private struct Bound {
        /// Sockets bound to an unspecified address (`0.0.0.0`, `::`): reached at every address of this host.
        var wildcards = 0
        /// Sockets bound to one address, by that address (IPv4-mapped addresses unmapped).
        var addresses: [IPAddress: Int] = [:]

        var isEmpty: Bool { wildcards == 0 && addresses.isEmpty }
    }

    /// The two tables, by port.
    private struct Tables {
        var tcp: [UInt16: Bound] = [:]
        var udp: [UInt16: Bound] = [:]

        subscript(transport: Transport) -> [UInt16: Bound] {
            switch transport {
            case .tcp: tcp
            case .udp: udp
            }
        }

        /// Changes one table in place (a setter would copy the whole dictionary on every change).
        mutating func update(_ transport: Transport, _ change: (inout [UInt16: Bound]) -> Void) {
            switch transport {
            case .tcp: change(&tcp)
            case .udp: change(&udp)
            }
        }
    }

    private let tables = Mutex(Tables())

    /// Counts `address` (a socket's bound address, real port) among this server's own until the returned
    /// registration ends.
    func register(_ address: SocketAddress, _ transport: Transport) -> Registration {
        let address = address.unmapped
        tables.withLock { tables in
            tables.update(transport) { ports in
                if address.ip.isUnspecified {
                    ports[address.port, default: Bound()].wildcards += 1
                } else {
                    ports[address.port, default: Bound()].addresses[address.ip, default: 0] += 1
                }
            }
        }
        return Registration(owner: self, address: address, transport: transport)
    }

    private func unregister(_ address: SocketAddress, _ transport: Transport) {
        tables.withLock { tables in
            tables.update(transport) { ports in
                guard var bound = ports.removeValue(forKey: address.port) else { return }
                if address.ip.isUnspecified {
                    bound.wildcards -= 1
                } else if let count = bound.addresses[address.ip] {
                    bound.addresses[address.ip] = count > 1 ? count - 1 : nil
                }
                if !bound.isEmpty { ports[address.port] = bound }
            }
        }
    }

    /// Whether `address` reaches one of these sockets: the same port, and the socket's own address, or an
    /// unspecified address (the kernel takes `0.0.0.0` and `::` for this host), or, for a socket bound to a
    /// wildcard, any address of this host (`LocalAddresses`) — the same reading as for the proxy listeners
    /// (`AccessPolicy.ownAddressReason`, which asks this type).
    func contains(_ address: SocketAddress, _ transport: Transport) -> Bool {
        enum Match {
            case none, yes, ifLocal
        }
        let match = tables.withLock { tables -> Match in
            guard let bound = tables[transport][address.port] else { return .none }
            let ip = address.ip.unmapped
            if ip.isUnspecified || bound.addresses[ip] != nil { return .yes }
            return bound.wildcards > 0 ? .ifLocal : .none
        }
        switch match {
        case .none: return false
        case .yes: return true
        // Outside the lock: the interface list may be read now (at most every few seconds).
        case .ifLocal: return LocalAddresses.shared.contains(address.ip)
        }
    }

    /// How many sockets are registered (for tests: every registration ends with its socket).
    var count: Int {
        tables.withLock { tables in
            (Array(tables.tcp.values) + Array(tables.udp.values)).reduce(0) { $0 + $1.wildcards + $1.addresses.values.reduce(0, +) }
        }
    }

    /// One socket's place among the server's own addresses, held for as long as the socket is open.
    ///
    /// `end()` is for its owner to call where it closes the socket; ending twice is harmless, and a
    /// registration that is dropped without an end ends then, so none outlives its owner.
    final class Registration: Sendable {
        private let owner: OwnAddresses
        let address: SocketAddress
        let transport: Transport
        private let ended = Atomic<Bool>(false)

        fileprivate init(owner: OwnAddresses, address: SocketAddress, transport: Transport) {
            self.owner = owner
            self.address = address
            self.transport = transport
        }

        /// Removes the address (once).
        func end() {
            guard ended.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
            owner.unregister(address, transport)
        }

        deinit {
            end()
        }
    }
}
