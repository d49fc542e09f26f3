import AsyncSockets
import Synchronization

/// Listening sockets another process passed on — systemd's socket activation, or the previous socksd
/// during an upgrade — for the server's listeners and metrics endpoints to take instead of binding.
///
/// A configured address takes the passed socket bound to that very address; a configured port 0 takes one
/// bound to the same address with any port (so an upgrade of `127.0.0.1:0` keeps its port). Each socket is
/// taken once, in the order passed. What nobody took is a configuration problem: `unclaimed` says which.
package final class PassedListeners: Sendable {
    private let remaining: Mutex<[TCPListener]>

    /// None: every listener binds.
    package static let none = PassedListeners([])

    package init(_ listeners: [TCPListener]) {
        remaining = Mutex(listeners)
    }

    /// Takes the passed socket bound to exactly `address`, if there is one.
    func takeExact(_ address: SocketAddress) -> TCPListener? {
        remaining.withLock { listeners in
            guard let index = listeners.firstIndex(where: { $0.localAddress == address }) else { return nil }
            return listeners.remove(at: index)
        }
    }

    /// Takes the passed socket for `address`: bound to it exactly, or for port 0, to the same IP address
    /// (and family) with any port.
    package func take(_ address: SocketAddress) -> TCPListener? {
        if let exact = takeExact(address) { return exact }
        guard address.port == 0 else { return nil }
        return remaining.withLock { listeners in
            guard let index = listeners.firstIndex(where: { $0.localAddress.ip == address.ip }) else { return nil }
            return listeners.remove(at: index)
        }
    }

    /// The addresses of the sockets nobody took.
    package var unclaimed: [SocketAddress] { remaining.withLock { $0.map(\.localAddress) } }

    /// Lets go of the sockets nobody took, without shutting them down: whoever passed them may still use them.
    package func releaseUnclaimed() {
        let listeners = remaining.withLock { listeners in
            defer { listeners = [] }
            return listeners
        }
        listeners.forEach { $0.release() }
    }
}
