import AsyncSockets
import Synchronization

/// The listening sockets of one configured address: one socket, shared (dup'ed) by every event loop, so
/// each loop accepts on its own thread and serves there what it accepted (no session starts with a
/// thread hop). A reload keeps the group of an address that stays, so its socket never closes.
final class ListenerGroup: Sendable {
    /// How a listener treats its connections; a reload may change it in place (the socket stays).
    struct Mode: Sendable, Hashable {
        /// For a PROXY protocol listener, the balancers it trusts; nil for a plain listener.
        var trustedProxies: [IPNetwork]?
        /// The protocols a connection's first byte may choose.
        var protocols: Set<ClientProtocol>
    }

    /// The address as configured (port 0 stays 0: the same configured address keeps the same socket).
    let configured: SocketAddress
    /// The address bound, with its real port.
    let localAddress: SocketAddress
    /// One listener per event loop.
    let listeners: [TCPListener]
    private let currentMode: Mutex<Mode>
    /// The address among the server's own (no request may reach it) for as long as the socket is open.
    private let ownAddress: OwnAddresses.Registration

    /// Binds `address`, shares the socket with every loop of `loops`, and registers it among `ownAddresses`.
    init(binding address: SocketAddress, mode: Mode, loops group: EventLoopGroup, ownAddresses: OwnAddresses) throws {
        let loops = group.loops
        let primary = try TCPListener(bindingTo: address, loop: loops[0])
        var listeners = [primary]
        do {
            for loop in loops.dropFirst() { listeners.append(try primary.sharing(on: loop)) }
        } catch {
            listeners.forEach { $0.close() }
            throw error
        }
        configured = address
        localAddress = primary.localAddress
        self.listeners = listeners
        self.currentMode = Mutex(mode)
        ownAddress = ownAddresses.register(primary.localAddress, .tcp)
    }

    /// Binds the listener `spec` describes.
    convenience init(_ spec: ListenerSpec, loops: EventLoopGroup, ownAddresses: OwnAddresses) throws {
        try self.init(
            binding: spec.address, mode: Mode(trustedProxies: spec.trustedProxies, protocols: spec.protocols), loops: loops,
            ownAddresses: ownAddresses)
    }

    /// PROXY protocol or plain, and which protocols: read once per connection.
    var mode: Mode {
        get { currentMode.withLock { $0 } }
        set { currentMode.withLock { $0 = newValue } }
    }

    /// The balancers a PROXY protocol listener trusts; nil for a plain listener.
    var proxyProtocol: [IPNetwork]? { mode.trustedProxies }

    /// Stops accepting on this address; the sessions it accepted go on.
    func close() {
        listeners.forEach { $0.close() }
        ownAddress.end()
    }
}
