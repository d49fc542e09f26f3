extension TCPConnection {
    /// How an outbound connect stands once `connect()` has returned (`TCPConnection.startConnect(to:from:)`).
    package enum ConnectStart: Sendable {
        /// The handshake finished inside `connect()`.
        case connected(TCPConnection)
        /// The handshake goes on: wait for it with `PendingConnect.finish(timeout:)`.
        case pending(PendingConnect)
    }

    /// An outbound connect whose handshake goes on: its socket is open and registered, and is closed if the
    /// attempt fails, times out or is abandoned.
    package struct PendingConnect: Sendable {
        let descriptor: SocketDescriptor
        let address: SocketAddress

        /// Waits for the handshake to finish. With `timeout`, an attempt still pending then is closed by its
        /// loop's timer and throws `SocketError.timedOut`; cancellation abandons it and closes its socket.
        nonisolated(nonsending) package func finish(timeout: Duration?) async throws -> TCPConnection {
            let timer = timeout.map { timeout in descriptor.loop.schedule(after: timeout) { [descriptor] in descriptor.close() } }
            defer { timer?.cancel() }
            do {
                try await TCPConnection.waitUntilConnected(descriptor, to: address)
                return try TCPConnection(descriptor: descriptor, remoteAddress: address, dialed: true)
            } catch {
                descriptor.close()
                if timer?.hasFired == true { throw SocketError.timedOut }
                throw error
            }
        }
    }
}
