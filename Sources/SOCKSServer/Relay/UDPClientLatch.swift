import AsyncSockets
import Synchronization

/// The one client a UDP association serves: datagrams only from the control connection's IP, and from the
/// port the request named, or else the port of the first datagram (latched).
final class UDPClientLatch: Sendable {
    let clientIP: IPAddress
    private let client: Mutex<SocketAddress?>

    /// - Parameter requiredPort: the port the request named, or `nil` for 0 (latch the first datagram's).
    init(clientIP: IPAddress, requiredPort: UInt16?) {
        self.clientIP = clientIP
        self.client = Mutex(requiredPort.map { SocketAddress(ip: clientIP, port: $0) })
    }

    /// Whether a datagram from `sender` comes from the client; latches the port on first use.
    func admit(_ sender: SocketAddress) -> Bool {
        guard sender.ip == clientIP else { return false }
        return client.withLock { client in
            if let known = client { return known.port == sender.port }
            client = sender
            return true
        }
    }

    /// Where replies go; `nil` until the client's first datagram (when it named no port).
    var address: SocketAddress? { client.withLock { $0 } }
}
