import Synchronization

/// A continuation that may be resumed from two sides (the result, or cancellation), exactly once.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting
        case installed(CheckedContinuation<Value, any Error>)
        case resolvedEarly(Result<Value, any Error>)
        case done
    }

    private let state = Mutex(State.waiting)

    func install(_ continuation: CheckedContinuation<Value, any Error>) {
        let early: Result<Value, any Error>? = state.withLock { state in
            if case .resolvedEarly(let result) = state { state = .done; return result }
            state = .installed(continuation)
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Whether a result (or a failure such as cancellation) has arrived: work meant for this waiter may be
    /// skipped.
    var isResolved: Bool {
        state.withLock { state in
            switch state {
            case .waiting, .installed: false
            case .resolvedEarly, .done: true
            }
        }
    }

    func resume(with result: Result<Value, any Error>) {
        let continuation: CheckedContinuation<Value, any Error>? = state.withLock { state in
            switch state {
            case .waiting: state = .resolvedEarly(result); return nil
            case .installed(let continuation): state = .done; return continuation
            case .resolvedEarly, .done: return nil
            }
        }
        continuation?.resume(with: result)
    }
}
