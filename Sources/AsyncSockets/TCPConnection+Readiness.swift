import Glibc

/// What a task waits for on a socket.
public enum SocketReadiness: Sendable {
    case readable, writable
}

extension TCPConnection {
    /// Suspends until any one of `needs` may be ready, so that one task can drive several connections
    /// (a relay that moves both directions itself). Wakes early, never late: the caller retries its calls.
    ///
    /// - Throws: `SocketError.closed` when one of the connections is closed, `CancellationError` on
    ///   cancellation.
    public static func waitUntilReady(_ needs: [(TCPConnection, SocketReadiness)]) async throws {
        try await IORegistration.waitForAny(needs.map { connection, readiness in
            (connection.descriptor.registration, readiness == .readable ? .read : .write)
        })
    }
}

extension TCPConnection {
    /// Whether the peer has closed its side (FIN or reset), as the kernel's TCP state says: known without
    /// reading, so bytes still queued for this side stay where they are.
    package var peerHasClosed: Bool {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(descriptor.fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return true }
        switch Int(info.tcpi_state) {
        case TCP_CLOSE_WAIT, TCP_CLOSE, TCP_LAST_ACK, TCP_CLOSING, TCP_TIME_WAIT:
            return true
        default:
            return false
        }
    }

    /// Waits until the peer closes its side (FIN or reset) without reading a byte: a server that will not
    /// read what the client sends yet (it has no room, or the bytes belong to a later stage) still learns
    /// of a hang-up. Each readiness edge (new bytes, the FIN, a reset) is a look at the TCP state.
    ///
    /// - Throws: `SocketError.closed` if this side is closed, `CancellationError` on cancellation.
    package func waitUntilPeerCloses() async throws {
        while !peerHasClosed {
            try await descriptor.registration.wait(for: .read)
        }
    }
}
