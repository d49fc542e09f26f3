extension TCPConnection {
    /// The readiness of a one-way pipe from this connection to `sink`, as an `AsyncSequence` (see
    /// `PipeReadiness`).
    package func readiness(pipingTo sink: TCPConnection) -> PipeReadiness {
        PipeReadiness(source: self, sink: sink)
    }

    /// The moments a one-way pipe (source → sink) may move bytes again, as an `AsyncSequence`: the source
    /// readable, or the sink writable, whichever the pipe waits for.
    ///
    /// A pipe works in nonblocking steps, and when a step cannot go on it knows what holds it up: it says so
    /// in `Iterator.awaiting` before it asks for the next element. The first element comes at once (a pipe
    /// tries before it waits); one asked for with nothing awaited comes after a `Task.yield()`, so that a pipe
    /// that never runs dry does not hold its loop from the other tasks. Readiness is edge-triggered and an
    /// edge that came while nobody waited is remembered, so an element is a reason to try again, not a
    /// promise that the next call moves bytes.
    ///
    /// The sequence never ends by itself: the pipe stops asking at EOF. Waiting throws `SocketError.closed`
    /// when the awaited socket is closed (a relay's teardown, an idle timeout) and `CancellationError` on
    /// cancellation. The iterator holds the two sockets' registrations and what it awaits, nothing more: no
    /// allocation per element. One iterator per pipe: the source is read, and the sink written, by one task.
    package struct PipeReadiness: AsyncSequence, Sendable {
        package typealias Element = Void
        let source: TCPConnection
        let sink: TCPConnection

        package func makeAsyncIterator() -> Iterator {
            Iterator(source: source.descriptor.registration, sink: sink.descriptor.registration)
        }

        package struct Iterator: AsyncIteratorProtocol {
            private let source: IORegistration
            private let sink: IORegistration
            private var started = false
            /// What the next element waits for: `.readable` the source, `.writable` the sink; nil, nothing
            /// (the pipe has more to move at once, after a yield).
            package var awaiting: SocketReadiness?

            init(source: IORegistration, sink: IORegistration) {
                self.source = source
                self.sink = sink
            }

            package mutating func next() async throws -> Void? {
                guard started else {
                    started = true
                    return ()
                }
                guard let awaiting else {
                    await Task.yield()
                    try Task.checkCancellation()
                    return ()
                }
                // One wait for either socket: a small frame, so that a relay direction's whole task fits
                // in the first slab of its task allocator.
                let (registration, direction) = awaiting == .readable ? (source, IORegistration.Direction.read) : (sink, .write)
                try await registration.wait(for: direction)
                return ()
            }
        }
    }
}
