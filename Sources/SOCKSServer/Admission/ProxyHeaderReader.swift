import AsyncSockets
import SOCKSProtocol

/// Reads the PROXY protocol header that starts every connection of a PROXY listener, under a deadline, and
/// says who the client is.
enum ProxyHeaderReader {
    enum Outcome: Sendable {
        /// The client the balancer names (or the balancer itself, for a header that says to use the real
        /// endpoints), and the bytes after the header: the start of the SOCKS greeting.
        case client(SocketAddress, early: [UInt8])
        /// A LOCAL header, or one naming the balancer's own connection: a health check. Closed quietly.
        case local
        /// Closed before a single byte: a plain TCP health check. Closed quietly.
        case closedEmpty
        /// No valid header in time: closed, and logged.
        case failed(String)
    }

    /// Below this the spec's receiver would time out a header delayed by one TCP retransmit.
    static let minimumDeadline: Duration = .seconds(3)

    static func read(from connection: TCPConnection, timeout: Duration) async -> Outcome {
        let limit = max(timeout, minimumDeadline)
        // A loop timer closes the connection at the deadline, which ends the pending read.
        let deadline = connection.closing(after: limit)
        defer { deadline.cancel() }
        var decoder = ProxyHeaderDecoder()
        // A v1 header is at most 107 bytes and most v2 ones are shorter than 256; what follows stays in the
        // decoder for the SOCKS handshake.
        var buffer = [UInt8](repeating: 0, count: 512)
        var receivedAny = false
        while true {
            switch decoder.next() {
            case .needMoreBytes:
                let count: Int
                do {
                    count = try await connection.read(into: &buffer)
                } catch {
                    if deadline.hasFired { return .failed("no complete PROXY header within \(limit)") }
                    return receivedAny ? .failed("\(error)") : .closedEmpty
                }
                guard count > 0 else { return receivedAny ? .failed("closed in the middle of the PROXY header") : .closedEmpty }
                receivedAny = true
                decoder.receive(buffer[0..<count])
            case .header(let header):
                let early = decoder.takeRemainingBytes()
                guard header.command == .proxy else { return .local }
                guard let source = header.source, let ip = IPAddress(bytes: source.address) else {
                    // UNKNOWN, UNSPEC or a family without an IP: the real endpoints stand.
                    return .client(connection.remoteAddress.unmapped, early: early)
                }
                let client = SocketAddress(ip: ip, port: source.port).unmapped
                // A header that names this very connection's own peer (address and port) is the balancer
                // speaking for itself: HAProxy's health checks over `send-proxy` do that, then reset. Like
                // LOCAL: closed quietly, no session.
                if client == connection.remoteAddress.unmapped && early.isEmpty { return .local }
                return .client(client, early: early)
            case .invalid(let error):
                return .failed("\(error)")
            }
        }
    }
}
