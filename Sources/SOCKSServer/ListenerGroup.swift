import AsyncSockets

/// The listening sockets of one configured address: one socket, shared (dup'ed) by every event loop, so
/// each loop accepts on its own thread and serves there what it accepted (no session starts with a
/// thread hop). A reload keeps the group of an address that stays, so its socket never closes.
final class ListenerGroup: Sendable {
    /// The address as configured (port 0 stays 0: the same configured address keeps the same socket).
    let configured: SocketAddress
    /// The address bound, with its real port.
    let localAddress: SocketAddress
    /// One listener per event loop.
    let listeners: [TCPListener]

    /// Binds `address` and shares the socket with every event loop.
    init(binding address: SocketAddress) throws {
        let loops = EventLoop.group.loops
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
    }

    /// Stops accepting on this address; the sessions it accepted go on.
    func close() {
        listeners.forEach { $0.close() }
    }
}
