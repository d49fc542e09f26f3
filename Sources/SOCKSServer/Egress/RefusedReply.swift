import AsyncSockets

/// A reply an egress refused (`DatagramReply.refused`), for that datagram alone: the relay counts it as a drop
/// (under `reason`) and keeps receiving.
enum RefusedReply: Error, CustomStringConvertible {
    /// From a remote the client never sent to, under the restricted-cone rule.
    case stranger(SocketAddress)
    /// From one of this server's own UDP sockets (another relay's), which no client can be answered by.
    case ownSocket(SocketAddress)

    var reason: DatagramDropReason {
        switch self {
        case .stranger: .stranger
        case .ownSocket: .ownSocket
        }
    }

    var description: String {
        switch self {
        case .stranger(let sender): "from \(sender), a remote the client has not sent to"
        case .ownSocket(let sender): "from \(sender), one of this server's own UDP sockets"
        }
    }
}
