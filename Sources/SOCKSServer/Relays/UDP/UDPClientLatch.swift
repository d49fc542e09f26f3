import AsyncSockets
import Synchronization

/// The one client a UDP association serves: datagrams only from the control connection's IP, and from the
/// port the request named, or else the port of the first datagram (latched).
///
/// A datagram from one of this server's own UDP sockets is never the client's, even from the client's IP:
/// where the client is on this host, another user could otherwise send to this relay through her own
/// association, arrive from this host's address, and be latched in the client's place.
final class UDPClientLatch: Sendable {
    /// What became of a datagram's sender.
    enum Admission {
        /// The client: forward the datagram.
        case client
        /// Another IP, or the client's IP from another port than the named or latched one.
        case stranger
        /// One of this server's own UDP sockets (another relay).
        case ownSocket
    }

    let clientIP: IPAddress
    private let client: Mutex<SocketAddress?>
    private let ownAddresses: OwnAddresses
    /// Under GSS-API protection (levels 1 and 2): the client's datagrams are each one encapsulated message
    /// of header and payload, and so are the replies. Kept here, in the one object both directions share,
    /// so that the relay's structs (and the task frames that hold them) do not grow for everyone else.
    let encapsulation: GSSAPIEncapsulation?

    /// - Parameter requiredPort: the port the request named, or `nil` for 0 (latch the first datagram's).
    init(clientIP: IPAddress, requiredPort: UInt16?, ownAddresses: OwnAddresses, encapsulation: GSSAPIEncapsulation? = nil) {
        self.clientIP = clientIP
        self.client = Mutex(requiredPort.map { SocketAddress(ip: clientIP, port: $0) })
        self.ownAddresses = ownAddresses
        self.encapsulation = encapsulation
    }

    /// Whether a datagram from `sender` comes from the client; latches the port on the client's first one.
    func admit(_ sender: SocketAddress) -> Admission {
        guard sender.ip == clientIP else { return .stranger }
        // Only the client's IP gets this far: the check costs nothing for strangers.
        guard !ownAddresses.contains(sender, .udp) else { return .ownSocket }
        return client.withLock { client in
            if let known = client { return known.port == sender.port ? .client : .stranger }
            client = sender
            return .client
        }
    }

    /// Where replies go; `nil` until the client's first datagram (when it named no port).
    var address: SocketAddress? { client.withLock { $0 } }
}
