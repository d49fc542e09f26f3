import Foundation
import Synchronization

/// The event loops that sockets, timers and servers use when nobody gave them a group: started by the
/// first user, stopped when the last one leaves (see `LoopGroupUses`), started anew by the next.
///
/// A process that embeds the library therefore has no loop threads while it has no sockets, no pending
/// timers and no servers. The daemon sets the spin here (`spinMicroseconds`); the library spins not at all
/// unless asked.
package enum SharedEventLoops {
    private enum State {
        /// No loops run.
        case idle
        /// `group` runs, with at least one user.
        case running(EventLoopGroup)
    }

    private struct Settings {
        var state = State.idle
        /// How long a busy loop polls before it sleeps (µs): 0, no spin, unless the embedder (the daemon)
        /// asks for one.
        var spinMicroseconds = 0
    }

    private static let settings = Mutex(Settings())

    /// One loop per core, at most 16.
    package static var defaultLoopCount: Int { max(1, min(ProcessInfo.processInfo.activeProcessorCount, 16)) }

    /// The spin of the shared loops: applies to the running loops at once and to those started later.
    package static var spinMicroseconds: Int {
        get { settings.withLock { $0.spinMicroseconds } }
        set {
            let running: EventLoopGroup? = settings.withLock { settings in
                settings.spinMicroseconds = newValue
                switch settings.state {
                case .idle: return nil
                case .running(let group): return group
                }
            }
            running?.setSpin(microseconds: newValue)
        }
    }

    /// The running shared group, if any (for tests).
    package static var runningGroup: EventLoopGroup? {
        settings.withLock { settings in
            switch settings.state {
            case .idle: nil
            case .running(let group): group
            }
        }
    }

    /// A use of the shared group, starting it if it does not run; the caller gives the use back with
    /// `group.uses.leave()`.
    ///
    /// - Throws: `SocketError` when the loops cannot be made (no descriptor for epoll or an eventfd, no
    ///   thread).
    static func enter() throws(SocketError) -> EventLoopGroup {
        try settings.withLock { (settings) throws(SocketError) -> EventLoopGroup in
            switch settings.state {
            case .running(let group):
                // Cannot fail: the group leaves `running` under this lock as its last use goes.
                if group.uses.enter() { return group }
                fallthrough
            case .idle:
                let group = try EventLoopGroup(
                    loopCount: defaultLoopCount, spinMicroseconds: settings.spinMicroseconds, endsWithLastUse: true)
                settings.state = .running(group)
                return group
            }
        }
    }

    /// Gives back a use that may be the group's last; the last one stops the group's threads.
    static func leave(_ uses: LoopGroupUses) {
        let ended: EventLoopGroup? = settings.withLock { settings in
            guard uses.leaveReturningLast() else { return nil }
            switch settings.state {
            case .running(let group) where group.uses === uses:
                settings.state = .idle
                return group
            case .running, .idle:
                return nil
            }
        }
        // The threads stop on their own (detached): the last use may leave on one of them.
        ended?.stop(joining: false)
    }
}
