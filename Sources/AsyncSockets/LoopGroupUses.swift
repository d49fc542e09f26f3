import Synchronization

/// What keeps an event loop group's threads running: a count of its users. Every open socket counts once
/// (from its creation until `close()`/`abort()` or its release), every pending timer once, and a server
/// once from its creation until `run()` returns.
///
/// The shared group (`SharedEventLoops`) ends when the count falls to zero: its threads stop, and the next
/// user starts a new group. An embedder's own group counts its owner as one more user until `shutdown()`.
///
/// A use is taken with a compare-and-swap that never succeeds from zero: once a group's last user has left
/// it stays ended, so nothing can slip onto loops that are stopping.
final class LoopGroupUses: Sendable {
    private let count: Atomic<Int>
    /// Set by an embedder's `shutdown()`: no new use, even while sockets from before are still open.
    private let ended = Atomic<Bool>(false)
    /// Whether the last use ending ends the group (the shared group); an embedder's group ends in `shutdown()`.
    let endsWithLastUse: Bool

    init(initialUses: Int, endsWithLastUse: Bool) {
        count = Atomic(initialUses)
        self.endsWithLastUse = endsWithLastUse
    }

    /// The users now (for tests).
    var current: Int { count.load(ordering: .relaxed) }

    /// Takes a use, unless the group has ended (or is ending): then `false`.
    func enter() -> Bool {
        if ended.load(ordering: .relaxed) { return false }
        var value = count.load(ordering: .relaxed)
        while value > 0 {
            let (exchanged, original) = count.weakCompareExchange(
                expected: value, desired: value + 1, successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { return true }
            value = original
        }
        return false
    }

    /// Gives a use back; the last one of the shared group ends it.
    func leave() {
        var value = count.load(ordering: .relaxed)
        while value > 1 {
            let (exchanged, original) = count.weakCompareExchange(
                expected: value, desired: value - 1, successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { return }
            value = original
        }
        if endsWithLastUse {
            // Possibly the last: decided under the shared group's lock, so that the group it ends is never
            // handed to a new user (who starts a new one).
            SharedEventLoops.leave(self)
        } else {
            count.subtract(1, ordering: .releasing)
        }
    }

    /// Refuses every new use from now on (an embedder's group that shuts down).
    func end() {
        ended.store(true, ordering: .relaxed)
    }

    /// Gives a use back and says whether it was the last (the caller holds the shared group's lock).
    func leaveReturningLast() -> Bool {
        count.subtract(1, ordering: .acquiringAndReleasing).newValue == 0
    }
}
