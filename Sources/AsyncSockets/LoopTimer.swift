import Synchronization

/// A one-shot action an event loop runs on its own thread at a deadline, without a task or a dispatch
/// timer: what a connection-wide deadline needs, for a few dozen bytes.
public final class LoopTimer: Sendable {
    let deadline: Int64
    let action: @Sendable () -> Void
    private let state = Atomic<UInt8>(0)  // 0 pending, 1 fired, 2 cancelled

    init(deadline: Int64, action: @escaping @Sendable () -> Void) {
        self.deadline = deadline
        self.action = action
    }

    /// Whether the action has run.
    public var hasFired: Bool { state.load(ordering: .acquiring) == 1 }

    /// Stops a pending timer; does nothing if it already fired.
    public func cancel() {
        _ = state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing)
    }

    /// Runs the action unless cancelled first. Called by the loop.
    func fire() {
        guard state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged else { return }
        action()
    }

    var isCancelled: Bool { state.load(ordering: .relaxed) == 2 }
}
