extension TCPListener {
    /// Accepted connections as an `AsyncSequence`, which ends when the listener is closed.
    ///
    /// When the process runs out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`), the
    /// sequence waits `backoff` and tries again, for as long as it takes: a full descriptor table must slow
    /// the server down, never stop it. `onResourceExhaustion` hears of the first failure of each such
    /// streak, not of every retry, so a long shortage does not flood the log.
    ///
    /// `assigningLoop` picks the loop that watches each new connection (default: the listener's).
    package func connections(
        backoff: Duration = .milliseconds(100),
        assigningLoop: (@Sendable () -> EventLoop)? = nil,
        onResourceExhaustion: (@Sendable (SocketError) -> Void)? = nil
    ) -> Connections {
        Connections(listener: self, backoff: backoff, assigningLoop: assigningLoop, onResourceExhaustion: onResourceExhaustion)
    }

    /// The `AsyncSequence` of a listener's accepted connections.
    package struct Connections: AsyncSequence, Sendable {
        package typealias Element = TCPConnection
        let listener: TCPListener
        let backoff: Duration
        let assigningLoop: (@Sendable () -> EventLoop)?
        let onResourceExhaustion: (@Sendable (SocketError) -> Void)?

        package func makeAsyncIterator() -> Iterator {
            Iterator(sequence: self)
        }

        /// Accepts the next connection; `nil` once the listener is closed.
        package struct Iterator: AsyncIteratorProtocol {
            let sequence: Connections
            var exhausted = false

            package mutating func next() async throws -> TCPConnection? {
                while true {
                    do {
                        let connection = try await sequence.listener.accept(assigningLoop: sequence.assigningLoop)
                        exhausted = false
                        return connection
                    } catch SocketError.closed {
                        return nil
                    } catch let error as SocketError {
                        guard let errno = error.errno,
                              [.tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .outOfMemory].contains(errno)
                        else { throw error }
                        if !exhausted { sequence.onResourceExhaustion?(error) }
                        exhausted = true
                        // Idle splice pipes hold descriptors that new sessions need more.
                        SplicePipePool.shared.releaseIdle()
                        // The loop's timer, not Task.sleep: a dispatch timer may need a descriptor to set up,
                        // and there is none to be had right now.
                        try await sequence.listener.eventLoop.sleep(for: sequence.backoff)
                    }
                }
            }
        }
    }
}
