extension TCPConnection {
    /// The readiness of a one-way pipe from this connection to `sink`, as an `AsyncSequence` (see
    /// `PipeReadiness`).
    package func readiness(pipingTo sink: TCPConnection) -> PipeReadiness {
        PipeReadiness(source: self, sink: sink)
    }

    /// The moments a one-way pipe (source → sink) may move bytes again, as an `AsyncSequence`: the source
    /// readable, or the sink writable, whichever the pipe waits for (a wait for the sink may also wake for
    /// the source: `Iterator.watchesSourceWhileWriting`).
    ///
    /// A pipe works in nonblocking steps, and when a step cannot go on it knows what holds it up: it says so
    /// in `Iterator.awaiting` before it asks for the next element. The first element comes at once (a pipe
    /// tries before it waits, unless its source's last read left nothing queued: `inputLooksDrained`); one
    /// asked for with nothing awaited comes after a `Task.yield()`, so that a pipe
    /// that never runs dry does not hold its loop from the other tasks. Readiness is edge-triggered and an
    /// edge that came while nobody waited is remembered, so an element is a reason to try again, not a
    /// promise that the next call moves bytes.
    ///
    /// The sequence ends when the awaited socket is closed (a relay's teardown, an idle timeout) or the task
    /// is cancelled, and `Iterator.ending` says which: a value, not a thrown error, because every relay ends
    /// this way and an error thrown costs an allocation. At EOF the pipe simply stops asking. The iterator
    /// holds the two sockets' registrations and what it awaits, nothing more: no allocation per element.
    /// One iterator per pipe: the source is read, and the sink written, by one task.
    package struct PipeReadiness: AsyncSequence, Sendable {
        package typealias Element = Void
        let source: TCPConnection
        let sink: TCPConnection

        /// Why a pipe's readiness sequence ended.
        package enum Ending: Sendable {
            /// The awaited socket was closed (a relay's teardown, an idle timeout).
            case closed
            /// The task was cancelled.
            case cancelled
            /// Another task already waited on the awaited socket in the same direction.
            case busy
        }

        package func makeAsyncIterator() -> Iterator {
            Iterator(
                source: source.descriptor.registration, sink: sink.descriptor.registration,
                awaiting: source.inputLooksDrained ? .readable : nil)
        }

        package struct Iterator: AsyncIteratorProtocol {
            private let source: IORegistration
            private let sink: IORegistration
            private var started = false
            /// What the next element waits for: `.readable` the source, `.writable` the sink; nil, nothing
            /// (the pipe has more to move at once, after a yield).
            package var awaiting: SocketReadiness?
            /// Why the sequence ended, once it has.
            package private(set) var ending: Ending?
            /// Whether a wait for the sink also wakes for the source (`sinkWritableOrSourceMoved`): set by a
            /// pipe that must hear of its source's reset while it cannot write.
            package var watchesSourceWhileWriting = false
            /// The wait on the sink (to write) and the source (to read) together, made the first time the
            /// pipe waits to write and kept for every such wait after.
            private var writeWait: ReadinessWait?

            init(source: IORegistration, sink: IORegistration, awaiting: SocketReadiness?) {
                self.source = source
                self.sink = sink
                self.awaiting = awaiting
            }

            package mutating func next() async -> Void? {
                guard ending == nil else { return nil }
                guard let awaiting else {
                    // The first element comes at once; later ones after a yield.
                    if started {
                        await Task.yield()
                        if Task.isCancelled {
                            ending = .cancelled
                            return nil
                        }
                    }
                    started = true
                    return ()
                }
                started = true
                if awaiting == .writable && watchesSourceWhileWriting { return await sinkWritableOrSourceMoved() }
                // One wait for one socket: a small frame, so that a relay direction's whole task fits in the
                // first slab of its task allocator.
                let (registration, direction) = awaiting == .readable ? (source, IORegistration.Direction.read) : (sink, .write)
                switch await registration.readiness(for: direction) {
                case .ready: return ()
                case .closed: ending = .closed
                case .cancelled: ending = .cancelled
                // A second task waiting on one of these sockets: a misuse this pipe cannot recover from.
                case .busy: ending = .busy
                }
                return nil
            }

            /// Waits until the sink may take bytes again, or the source has news: a pipe stalled on a sink
            /// that does not read must still hear of a source that resets (it is read at no other time), so
            /// the element comes for either, and the pipe looks at the source's pending error
            /// (`TCPConnection.takePendingReset`). A function of its own, never inlined: only a pipe that ever
            /// waits to write has its frame on the stack.
            @inline(never)
            private mutating func sinkWritableOrSourceMoved() async -> Void? {
                let wait: ReadinessWait
                if let writeWait { wait = writeWait } else { wait = ReadinessWait(); writeWait = wait }
                do {
                    _ = try await IORegistration.waitForEither(sink, .write, source, using: wait)
                    return ()
                } catch is CancellationError {
                    ending = .cancelled
                } catch SocketError.closed {
                    ending = .closed
                } catch {
                    ending = .busy
                }
                return nil
            }
        }
    }
}
