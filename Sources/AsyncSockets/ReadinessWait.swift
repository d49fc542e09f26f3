import Synchronization

/// One task's wait on two sockets at once, made again and again with the same object: the first readiness (or
/// failure) to arrive ends a wait, once, and says which socket it came from.
///
/// The task that owns it keeps it for its whole life (a UDP association's client side keeps one), so a wait
/// allocates nothing: no object, no array of sockets, no checked continuation. Each wait has a generation; a
/// socket's slot holds the generation it was put there for, so an edge that comes for a wait already over
/// never ends a later one by mistake (the socket keeps that edge for its next wait instead).
final class ReadinessWait: Sendable {
    /// Which of the two sockets a wait ended through: `both` when the first had an edge recorded and the
    /// second had one too (each took its edge).
    enum Source: Sendable {
        case first, second, both
    }

    /// How a wait ended: ready, through one of the sockets, or not.
    enum Ending: Sendable {
        case ready(Source)
        case closed
        case cancelled
        case busy
    }

    private struct State {
        var generation: UInt64 = 0
        /// The task's continuation while a wait is under way; nil between waits and once one has ended.
        var continuation: UnsafeContinuation<Ending, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// Starts a wait that `continuation` ends, and says its generation; `nil` when a wait is under way already
    /// (one task waits with it at a time: a second would take the first one's place and leave it hanging).
    func begin(_ continuation: UnsafeContinuation<Ending, Never>) -> UInt64? {
        state.withLock { state in
            if state.continuation != nil { return nil }
            state.generation &+= 1
            state.continuation = continuation
            return state.generation
        }
    }

    /// Whether the wait of `generation` is still under way (a socket's slot holding an older one is empty).
    func isWaiting(_ generation: UInt64) -> Bool {
        state.withLock { $0.generation == generation && $0.continuation != nil }
    }

    /// Ends the wait of `generation` with `outcome`, unless it is over already.
    ///
    /// - Returns: whether this call ended it (when not, the caller keeps the edge for the socket's next wait).
    @discardableResult
    func finish(_ generation: UInt64, with outcome: IORegistration.WaitOutcome, from source: Source) -> Bool {
        let continuation = state.withLock { state -> UnsafeContinuation<Ending, Never>? in
            guard state.generation == generation, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return continuation
        }
        // Resumed outside the lock: resuming can run arbitrary code on this thread.
        guard let continuation else { return false }
        switch outcome {
        case .ready: continuation.resume(returning: .ready(source))
        case .closed: continuation.resume(returning: .closed)
        case .cancelled: continuation.resume(returning: .cancelled)
        case .busy: continuation.resume(returning: .busy)
        }
        return true
    }

    /// Ends the wait under way, if any, as cancelled (the task's cancellation handler does not know the
    /// generation).
    func cancel() {
        let continuation = state.withLock { state -> UnsafeContinuation<Ending, Never>? in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: .cancelled)
    }
}
