import Glibc
import Synchronization

/// The readiness state of one file descriptor registered with the event loop, and the tasks waiting on it.
///
/// The descriptor is registered once, edge-triggered. An edge that arrives while nobody waits is remembered
/// in a per-direction flag, so a wake-up that lands between a syscall's `EAGAIN` and the task suspending is
/// never lost: a wait consumes the flag and returns at once, and the caller retries the syscall.
final class IORegistration: Sendable {
    enum Direction: Sendable {
        case read, write
    }

    /// How a wait ended, as a value: `readiness(for:)` hands it back without an error to box (an error
    /// thrown across a task costs an allocation each time).
    enum WaitOutcome: Sendable {
        /// The descriptor may be ready: try the call again.
        case ready
        /// The socket was closed under the wait.
        case closed
        /// The waiting task was cancelled.
        case cancelled
        /// Another task already waits in this direction (a misuse: one reader and one writer at a time).
        case busy
    }

    /// Who waits in one direction: one task, or a wait on two sockets at once (`ReadinessWait`).
    ///
    /// A task waits with an unsafe continuation, which unlike a checked one costs no allocation per wait: it
    /// is resumed exactly once, by whoever takes it out of its slot under the lock (`signal`, `close`, the
    /// cancellation handler), or at once by the wait itself when it never went into a slot.
    private enum Waiter {
        /// A task in `wait(for:)`: the outcome becomes an error to throw.
        case task(UnsafeContinuation<Void, any Error>, Direction)
        /// A task in `readiness(for:)`: the outcome is handed back as it is.
        case outcome(UnsafeContinuation<WaitOutcome, Never>)
        /// A task in `waitForEither`: its shared wait, the generation of that wait, and which socket this is.
        case any(ReadinessWait, UInt64, ReadinessWait.Source)

        /// A shared wait that is over, still sitting in a slot, counts as no waiter.
        var isLive: Bool {
            if case .any(let wait, let generation, _) = self { return wait.isWaiting(generation) }
            return true
        }

        /// Wakes the waiter with `outcome`.
        ///
        /// - Returns: whether this woke it: a shared wait may have ended through the other socket meanwhile.
        @discardableResult
        func resume(_ outcome: WaitOutcome) -> Bool {
            switch self {
            case .task(let continuation, let direction): continuation.resume(with: outcome.result(direction)); return true
            case .outcome(let continuation): continuation.resume(returning: outcome); return true
            case .any(let wait, let generation, let source): return wait.finish(generation, with: outcome, from: source)
            }
        }
    }

    private struct Waiters {
        var readReady = false
        var writeReady = false
        var reader: Waiter?
        var writer: Waiter?
        var closed = false
    }

    let fd: Int32
    /// What epoll hands back for this registration: the generation in the high half, the fd in the low half.
    let token: UInt64
    private let state = Mutex(Waiters())
    /// Whether the last read of this (stream) socket left its receive queue empty: a `recv` that came back
    /// short of its room or with `EAGAIN`, set by the reader (`noteInput`). Every byte that arrives after
    /// that brings an edge, so the next read can wait for it first instead of making a `recv` that fails
    /// with `EAGAIN` — one system call less per read that would come too early (a handshake's next message,
    /// a relay's next load): about three per CONNECT session. A wait for `.read` that returns takes an edge,
    /// so it clears the flag: whoever takes an edge without reading (a hang-up watch, a peek) can never
    /// leave a later reader waiting for an edge that already came.
    private let drained = Atomic<Bool>(false)
    /// Whether an event said the peer finished or reset (`EPOLLRDHUP`). A FIN that
    /// came with the last bytes is taken with their edge, and a read that then comes back short has not seen
    /// it (the next read returns 0 at once, and no edge will come for it): once the peer has ended, every
    /// read tries first. Set before the waiter is woken, so a reader never reads short with it unseen.
    private let peerEnded = Atomic<Bool>(false)

    init(fd: Int32, generation: UInt32) {
        self.fd = fd
        self.token = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Suspends until the descriptor may be ready in `direction`, the socket is closed, or the task is cancelled.
    ///
    /// One waiter per direction: a socket is read by one task and written by one task at a time.
    ///
    /// - Throws: `SocketError.closed` when the socket is closed, `CancellationError` on cancellation.
    nonisolated(nonsending) func wait(for direction: Direction) async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let outcome = install(.task(continuation, direction), for: direction)
                // Resumed outside the lock: resuming can run arbitrary code on this thread.
                if let outcome { continuation.resume(with: outcome.result(direction)) }
            }
        } onCancel: {
            cancelWait(in: direction)
        }
    }

    /// Suspends as `wait(for:)` does, and says how the wait ended instead of throwing: a relay's direction,
    /// which ends on a close or a cancellation as a matter of course, allocates nothing for it.
    nonisolated(nonsending) func readiness(for direction: Direction) async -> WaitOutcome {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<WaitOutcome, Never>) in
                let outcome = install(.outcome(continuation), for: direction)
                if let outcome { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            cancelWait(in: direction)
        }
    }

    /// Wakes the task waiting in `direction`, if any, as cancelled.
    private func cancelWait(in direction: Direction) {
        let waiter = state.withLock { waiters in
            switch direction {
            case .read: defer { waiters.reader = nil }; return waiters.reader
            case .write: defer { waiters.writer = nil }; return waiters.writer
            }
        }
        waiter?.resume(.cancelled)
    }

    /// Puts `waiter` in the slot for `direction`, unless it can be answered at once.
    ///
    /// - Returns: the immediate answer (ready, closed, cancelled, busy), or `nil` when the waiter now waits.
    private func install(_ waiter: Waiter, for direction: Direction) -> WaitOutcome? {
        // Whatever wakes this waiter takes the edge (see `drained`). Cleared here rather than after the wait,
        // so that `wait` ends with its await: code after it would cost a hop back to the caller's executor,
        // which allocates a task record.
        if direction == .read { drained.store(false, ordering: .relaxed) }
        return state.withLock { waiters in
            if waiters.closed { return .closed }
            if Task.isCancelled { return .cancelled }
            switch direction {
            case .read:
                if waiters.readReady { waiters.readReady = false; return .ready }
                if waiters.reader?.isLive == true { return .busy }
                waiters.reader = waiter
            case .write:
                if waiters.writeReady { waiters.writeReady = false; return .ready }
                if waiters.writer?.isLive == true { return .busy }
                waiters.writer = waiter
            }
            return nil
        }
    }

    /// Suspends until `first` or `second` may be ready for reading (or one of them is closed, or the task is
    /// cancelled), through `wait`, which the task keeps from one wait to the next: one task can then read two
    /// sockets, and each wait allocates nothing. `firstDirection` makes the wait on `first` one for writing
    /// (a relay direction that waits to write and watches its source meanwhile).
    ///
    /// - Returns: the socket that may be ready, or both. Only a socket named took an edge: the other keeps any
    ///   edge it had, or gets, for its next wait, so a caller may leave it unread until a wait names it.
    /// - Throws: `SocketError.closed` when either is closed, `CancellationError` on cancellation.
    nonisolated(nonsending) static func waitForEither(
        _ first: IORegistration, _ firstDirection: Direction, _ second: IORegistration, using wait: ReadinessWait
    ) async throws -> ReadinessWait.Source {
        var began = false
        let ending = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<ReadinessWait.Ending, Never>) in
                guard let generation = wait.begin(continuation) else {
                    continuation.resume(returning: .busy)  // another wait on this object is under way
                    return
                }
                began = true
                // An edge an install takes after the wait has ended (through the other socket's signal, on
                // another thread) belongs to that socket's next wait: it is given back, not dropped.
                if let outcome = first.install(.any(wait, generation, .first), for: firstDirection) {
                    // The second socket's recorded edge is taken too and named: a task whose first socket
                    // always has an edge waiting (a flood) would otherwise never hear from the second.
                    let source: ReadinessWait.Source = outcome == .ready && second.takeRecordedRead() ? .both : .first
                    if !wait.finish(generation, with: outcome, from: source), case .ready = outcome {
                        first.recordEdge(firstDirection)
                        if source == .both { second.recordEdge(.read) }
                    }
                } else if let outcome = second.install(.any(wait, generation, .second), for: .read) {
                    if !wait.finish(generation, with: outcome, from: .second), case .ready = outcome { second.recordEdge(.read) }
                }
            }
        } onCancel: {
            wait.cancel()
        }
        // Clear the slots this wait may still hold, so the next wait on them is not refused as busy (a wait
        // that never began holds none, and must not clear the one under way).
        if began {
            first.remove(wait, from: firstDirection)
            second.remove(wait, from: .read)
        }
        switch ending {
        case .ready(let source): return source
        case .closed: throw SocketError.closed
        case .cancelled: throw CancellationError()
        case .busy: throw WaitOutcome.busyError(firstDirection)
        }
    }

    /// Takes the read edge recorded while nobody waited, if there is one (as a wait that returns at once
    /// would).
    private func takeRecordedRead() -> Bool {
        drained.store(false, ordering: .relaxed)
        return state.withLock { waiters in
            defer { waiters.readReady = false }
            return waiters.readReady
        }
    }

    private func remove(_ wait: ReadinessWait, from direction: Direction) {
        state.withLock { waiters in
            switch direction {
            case .read: if case .any(let held, _, _)? = waiters.reader, held === wait { waiters.reader = nil }
            case .write: if case .any(let held, _, _)? = waiters.writer, held === wait { waiters.writer = nil }
            }
        }
    }

    /// Keeps an edge that found no waiter to take it (a shared wait that had ended through its other socket):
    /// a new wait may have gone into the slot meanwhile, and then the edge is its own; else it is recorded.
    private func recordEdge(_ direction: Direction) {
        signal(readable: direction == .read, writable: direction == .write, peerEnded: false)
    }

    /// Called by the loop thread with the directions an event reported ready, and whether it said that the
    /// peer has ended its side.
    func signal(readable: Bool, writable: Bool, peerEnded ended: Bool) {
        if ended { peerEnded.store(true, ordering: .relaxed) }
        let (reader, writer) = state.withLock { waiters in
            var reader: Waiter?
            var writer: Waiter?
            if readable {
                if let waiting = waiters.reader, waiting.isLive {
                    reader = waiting
                    waiters.reader = nil
                } else {
                    waiters.reader = nil
                    waiters.readReady = true
                }
            }
            if writable {
                if let waiting = waiters.writer, waiting.isLive {
                    writer = waiting
                    waiters.writer = nil
                } else {
                    waiters.writer = nil
                    waiters.writeReady = true
                }
            }
            return (reader, writer)
        }
        // A shared wait may have ended through its other socket since it was taken out of the slot: the edge
        // then stays with this socket, for its next wait.
        if let reader, !reader.resume(.ready) { recordEdge(.read) }
        if let writer, !writer.resume(.ready) { recordEdge(.write) }
    }

    /// Marks the registration closed and wakes both waiters with `SocketError.closed`.
    func close() {
        let (reader, writer) = state.withLock { waiters in
            waiters.closed = true
            defer { waiters.reader = nil; waiters.writer = nil }
            return (waiters.reader, waiters.writer)
        }
        reader?.resume(.closed)
        writer?.resume(.closed)
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Whether the last read left the receive queue empty, with no `.read` wait since (see `drained`).
    var inputLooksDrained: Bool { drained.load(ordering: .relaxed) && !peerHasEnded }

    /// Whether an event has said that the peer finished or reset (see `peerEnded`). The kernel may know
    /// before: its TCP state changes when the FIN arrives, this once the loop has handled the event.
    var peerHasEnded: Bool { peerEnded.load(ordering: .relaxed) }

    /// Notes what a read found: `true` when it left the receive queue empty.
    func noteInput(drained isEmpty: Bool) {
        drained.store(isEmpty, ordering: .relaxed)
    }

    /// The edges recorded while nobody waited (what the next wait in each direction consumes).
    var recordedReadiness: (read: Bool, write: Bool) { state.withLock { ($0.readReady, $0.writeReady) } }
}

extension IORegistration.WaitOutcome {
    /// The outcome as what `wait(for:)` returns or throws.
    func result(_ direction: IORegistration.Direction) -> Result<Void, any Error> {
        switch self {
        case .ready: .success(())
        case .closed: .failure(SocketError.closed)
        case .cancelled: .failure(CancellationError())
        case .busy: .failure(Self.busyError(direction))
        }
    }

    /// What a wait refused as `busy` throws.
    static func busyError(_ direction: IORegistration.Direction) -> SocketError {
        .failed(operation: "\(direction == .read ? "read" : "write") wait", errno: Errno(rawValue: EBUSY))
    }
}
