import Glibc
import Synchronization

/// The descriptors at the top of the process's limit that its sockets and pipes never keep, so that code
/// the process does not control always finds one when it needs it.
///
/// libdispatch (under Swift concurrency, dispatch sources and timers) needs a descriptor at moments of its
/// own choosing, and treats failing to get one as fatal: once a second, whenever a global queue has work
/// waiting, its worker monitor opens `/proc/<tid>/stat` for every worker thread, and a failed `open` is a
/// `DISPATCH_CLIENT_CRASH` ("workq: registered worker exited prematurely", SIGILL). A server whose clients
/// fill its descriptor table would therefore be killed by the first such moment while the table is full.
/// Others make do without but should not have to: a dispatch timer on a clock used for the first time (a
/// `timerfd`), a name lookup (`getaddrinfo` opens files and a socket), the `/proc` reads of a metrics scrape.
///
/// The kernel hands out the lowest free number, so a new descriptor numbered `n` means that every number
/// below `n` is taken. A socket or pipe numbered at or above `ceiling` is therefore closed at once and its
/// creation reported as `EMFILE`, exactly as if the table were full (a listener backs off, a session answers
/// that it failed); the numbers from `ceiling` up to the limit stay free for the others. The limit is read
/// again when a descriptor reaches the ceiling last computed (it may have been raised, as tests do) and when
/// a creation fails with `EMFILE` (it may have been lowered).
///
/// Not covered: `ENFILE`, the system-wide table being full, which no process can reserve against.
package enum DescriptorReserve {
    /// The descriptors left free under a limit of `limit`: what the others may need at once (libdispatch one
    /// for its monitor and one per timer clock; four lookup threads a few each; a scrape one) with room to
    /// spare, and never more than an eighth of a small limit.
    package static func size(forLimit limit: Int) -> Int {
        min(32, max(0, limit / 8))
    }

    /// The first descriptor number the process's sockets and pipes may not keep; 0 until first computed.
    private static let cachedCeiling = Atomic<Int>(0)

    /// `fd`, just returned by a call that creates a descriptor (-1 when it failed, with `errno` set), if the
    /// process may keep it; otherwise -1 with `errno` `EMFILE`, the descriptor closed.
    package static func admit(_ fd: Int32) -> Int32 {
        guard fd >= 0 else {
            if errno == EMFILE { _ = refreshCeiling() }
            return fd
        }
        guard Int(fd) >= cachedCeiling.load(ordering: .relaxed), Int(fd) >= refreshCeiling() else { return fd }
        // Not retried on EINTR: Linux releases the descriptor even then.
        Glibc.close(fd)
        errno = EMFILE
        return -1
    }

    /// `admit` for a pair made together (a pipe's two ends): both are kept, or both are closed and the result
    /// is false with `errno` `EMFILE` (or the creation's own error, when `made` is false).
    package static func admit(pair fds: (Int32, Int32), made: Bool) -> Bool {
        guard made else {
            if errno == EMFILE { _ = refreshCeiling() }
            return false
        }
        let highest = Int(max(fds.0, fds.1))
        guard highest >= cachedCeiling.load(ordering: .relaxed), highest >= refreshCeiling() else { return true }
        Glibc.close(fds.0)
        Glibc.close(fds.1)
        errno = EMFILE
        return false
    }

    /// Reads the descriptor limit and stores the ceiling it gives.
    private static func refreshCeiling() -> Int {
        var limit = rlimit()
        // RLIM_INFINITY is all ones: clamped like any limit above what a descriptor number can reach.
        let descriptors = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(min(limit.rlim_cur, rlim_t(Int32.max))) : Int(Int32.max)
        let ceiling = descriptors - size(forLimit: descriptors)
        cachedCeiling.store(ceiling, ordering: .relaxed)
        return ceiling
    }
}
