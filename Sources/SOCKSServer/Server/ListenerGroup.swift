import AsyncSockets
import Synchronization

/// The listening sockets of one configured address: one socket, shared (dup'ed) by every event loop, so
/// each loop accepts on its own thread. A session stays on the loop that accepted it (no thread hop)
/// unless another loop carries at least two sessions fewer (`EventLoopGroup.leastLoaded`), so long-lived
/// sessions spread over the cores. A reload keeps the group of an address that stays, so its socket never
/// closes.
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

    /// Binds `address` — or takes the socket `passed` has for it — shares the socket with every loop of
    /// `loops`, and registers it among `ownAddresses`.
    init(binding address: SocketAddress, mode: Mode, loops group: EventLoopGroup, ownAddresses: OwnAddresses, passed: PassedListeners = .none) throws {
        let loops = group.loops
        let adopted = passed.take(address)
        let primary = try adopted ?? TCPListener(bindingTo: address, loop: loops[0])
        var listeners = [primary]
        do {
            for loop in loops where loop !== primary.eventLoop { listeners.append(try primary.sharing(on: loop)) }
        } catch {
            // A passed socket stays open for whoever passed it: this process only lets go of it.
            listeners.forEach { adopted == nil ? $0.close() : $0.release() }
            throw error
        }
        configured = address
        localAddress = primary.localAddress
        self.listeners = listeners
        self.currentMode = Mutex(mode)
        ownAddress = ownAddresses.register(primary.localAddress, .tcp)
    }

    /// Binds the listener `spec` describes, or takes the socket `passed` has for it.
    convenience init(_ spec: ListenerSpec, loops: EventLoopGroup, ownAddresses: OwnAddresses, passed: PassedListeners = .none) throws {
        try self.init(
            binding: spec.address, mode: Mode(trustedProxies: spec.trustedProxies, protocols: spec.protocols), loops: loops,
            ownAddresses: ownAddresses, passed: passed)
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

    /// Stops accepting on this address in this process, leaving the socket listening for the process it
    /// was handed to (`TCPListener.release()`); the sessions it accepted go on.
    func release() {
        listeners.forEach { $0.release() }
        ownAddress.end()
    }
}
