import Synchronization

/// A one-shot action an event loop runs on its own thread at a deadline, without a task or a dispatch
/// timer: what a connection-wide deadline needs, for a few dozen bytes.
///
/// Cancelling a pending timer takes it out of its loop's heap and drops its action at once, so whatever
/// the action captured (sockets, above all) is released then, not when the deadline would have come.
///
/// A pending timer is a use of its loop's group (`LoopGroupUses`): the loops run until it fires or is
/// cancelled. It holds its loop strongly while in the heap (a cycle that firing, cancelling, or the loop
/// stopping ends).
package final class LoopTimer: Sendable {
    /// The lifecycle of a timer: an action waits in `pending` until it runs or is cancelled, never both.
    private enum State {
        case pending(@Sendable () -> Void)
        case fired
        case cancelled
    }

    /// When the action is due (µs, monotonic).
    let deadline: Int64
    /// The loop whose heap holds the timer until it fires or is cancelled.
    private let loop: EventLoop
    private let state: Mutex<State>
    /// Whether the timer holds a use of the loop's group, given back when it fires or is cancelled.
    private let holdsUse: Bool
    /// The timer's position in its loop's heap, -1 once out of it. Read and written only under the loop's
    /// timer lock (the heap keeps it current as entries move); an atomic only so the class can be `Sendable`.
    let heapIndex = Atomic<Int>(-1)

    init(deadline: Int64, loop: EventLoop, holdsUse: Bool, action: @escaping @Sendable () -> Void) {
        self.deadline = deadline
        self.loop = loop
        self.holdsUse = holdsUse
        self.state = Mutex(.pending(action))
    }

    /// Whether the action has run (or is running).
    package var hasFired: Bool {
        state.withLock { state in
            switch state {
            case .fired: true
            case .pending, .cancelled: false
            }
        }
    }

    /// Stops a pending timer, releasing its action now; does nothing if it already fired.
    package func cancel() {
        let wasPending = state.withLock { state in
            switch state {
            case .pending:
                state = .cancelled
                return true
            case .fired, .cancelled:
                return false
            }
        }
        if wasPending {
            loop.removeTimer(self)
            if holdsUse { loop.uses.leave() }
        }
    }

    /// Runs the action unless the timer was cancelled first. Called by the loop, once the timer is out of
    /// the heap; the action runs outside the lock (it may schedule or cancel timers).
    func fire() {
        let action: (@Sendable () -> Void)? = state.withLock { state in
            switch state {
            case .pending(let action):
                state = .fired
                return action
            case .fired, .cancelled:
                return nil
            }
        }
        guard let action else { return }
        action()
        if holdsUse { loop.uses.leave() }
    }
}
