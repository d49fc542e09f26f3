import Synchronization

/// A use of an event loop group (see `LoopGroupUses`) for as long as something needs the loops to run
/// without a socket of its own to keep them: a server, from its creation until `run()` returns. Given back
/// once, by `release()` or when the hold goes.
package final class EventLoopHold: Sendable {
    /// The group held: the one given, or the shared loops.
    package let group: EventLoopGroup
    private let held = Atomic<Bool>(true)

    /// Holds `group`, or the shared loops (starting them if none run) when it is `nil`.
    ///
    /// - Throws: `SocketError.eventLoopsShutDown` for a group that has been shut down; `SocketError` when
    ///   the shared loops cannot start (no descriptor for epoll, no thread).
    package init(_ group: EventLoopGroup?) throws(SocketError) {
        if let group {
            guard group.uses.enter() else { throw .eventLoopsShutDown }
            self.group = group
        } else {
            self.group = try SharedEventLoops.enter()
        }
    }

    /// Gives the use back (once; later calls do nothing).
    package func release() {
        if held.exchange(false, ordering: .acquiringAndReleasing) { group.uses.leave() }
    }

    deinit {
        release()
    }
}
