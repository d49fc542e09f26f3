import Glibc

/// What a task waits for on a socket (a pipe's source to be readable, its sink to be writable).
package enum SocketReadiness: Sendable {
    case readable, writable
}

extension TCPConnection {
    /// How the peer has ended its side, as far as the kernel's TCP state says.
    package enum PeerEnding: Sendable {
        /// A FIN: the peer sends no more, but may still read (a half-close).
        case finished
        /// A reset, or the connection is gone.
        case reset
    }

    /// How the peer has ended its side, or `nil` while it has not: known without reading, so bytes still
    /// queued for this side stay where they are (and a FIN behind them is not seen until they are read).
    package var peerEnding: PeerEnding? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(descriptor.fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return .reset }
        switch Int(info.tcpi_state) {
        case TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_CLOSING, TCP_TIME_WAIT: return .finished
        case TCP_CLOSE: return .reset
        default: return nil
        }
    }

    /// Waits, without reading a byte, until the peer resets the connection or (with `orFinishes`) sends its
    /// FIN: a server that will not read what the client sends yet (it has no room, or the bytes belong to a
    /// later stage) still learns of a hang-up. Each readiness edge (new bytes, the FIN, a reset) is a look
    /// at the TCP state.
    ///
    /// - Parameter orFinishes: whether a FIN ends the wait. `false` where a FIN is a half-close that the
    ///   relay to come must pass on (a CONNECT with early data and a FIN behind it is still served).
    /// - Throws: `SocketError.closed` if this side is closed, `CancellationError` on cancellation.
    nonisolated(nonsending) package func waitUntilPeerCloses(orFinishes: Bool = true) async throws {
        while true {
            switch peerEnding {
            case .reset?: return
            case .finished? where orFinishes: return
            case .finished?, nil: try await descriptor.registration.wait(for: .read)
            }
        }
    }
}
