import AsyncSockets
import Synchronization

/// Who may talk through one UDP association: the client's address (its port latched from the first
/// datagram when the request did not name one), and the remotes the client has sent to.
final class UDPAssociationPeers: Sendable {
    private struct State {
        var client: SocketAddress?
        var remotes: Set<SocketAddress> = []
    }

    /// The only IP datagrams are accepted from: the control connection's client.
    let clientIP: IPAddress
    /// The port the request named, or `nil` when it sent port 0 (latch the first datagram's port).
    let requiredPort: UInt16?
    private let state: Mutex<State>
    /// At most this many remotes are remembered; past it the set starts afresh (replies from forgotten
    /// remotes drop until the client sends to them again).
    private let remoteCapacity = 4096

    init(clientIP: IPAddress, requiredPort: UInt16?) {
        self.clientIP = clientIP
        self.requiredPort = requiredPort
        self.state = Mutex(State(client: requiredPort.map { SocketAddress(ip: clientIP, port: $0) }))
    }

    /// Whether a datagram from `sender` comes from the client; latches the client's port on first use.
    func admitClient(_ sender: SocketAddress) -> Bool {
        guard sender.ip == clientIP else { return false }
        return state.withLock { state in
            if let client = state.client { return client.port == sender.port }
            state.client = sender
            return true
        }
    }

    /// Where replies go; `nil` until the client has sent its first datagram (or named its port).
    var client: SocketAddress? { state.withLock { $0.client } }

    func rememberRemote(_ remote: SocketAddress) {
        state.withLock { state in
            if state.remotes.count >= remoteCapacity && !state.remotes.contains(remote) { state.remotes.removeAll(keepingCapacity: true) }
            state.remotes.insert(remote)
        }
    }

    func isKnownRemote(_ remote: SocketAddress) -> Bool {
        state.withLock { $0.remotes.contains(remote) }
    }
}
