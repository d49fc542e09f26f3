import Glibc
import Synchronization

/// Empty splice pipes kept for reuse, so that a burst of bytes costs no `pipe2` and no `close`.
///
/// Relays hold a pipe only while bytes move through it and give it back when it is empty, so the pipes in
/// use follow the traffic, not the number of sessions. The pool keeps at most `capacity` idle pipes (two
/// descriptors each), sized against the process's descriptor limit and the kernel's per-user pipe budget,
/// and lets them all go when the process runs short of descriptors.
package final class SplicePipePool: Sendable {
    /// The pool the server's relays share, sized for this process's limits.
    package static let shared = SplicePipePool(capacity: SplicePipePool.capacityForThisProcess())

    private let idle = Mutex<[SplicePipe]>([])
    private let lent = Atomic<Int>(0)
    /// The most idle pipes kept.
    package let capacity: Int
    /// Whether `take()` may make a new pipe when none is idle.
    private let makesPipes: Bool

    /// - Parameter makesPipes: `false` for a pool that never makes a pipe, so that every `take()` fails as
    ///   it does in a process out of descriptors: a relay on it copies every byte (tests run the copying path
    ///   so).
    package init(capacity: Int, makesPipes: Bool = true) {
        self.capacity = max(0, capacity)
        self.makesPipes = makesPipes
    }

    /// Idle pipes the pool may keep here: at most 1/16 of the descriptor limit (so idle pipes never crowd
    /// out sessions: at 1,024 descriptors that is 32 pipes, 64 descriptors), at most half of what the
    /// per-user pipe budget (`/proc/sys/fs/pipe-user-pages-soft`) allows at the preferred pipe size (past
    /// the budget the kernel hands out small pipes), and never more than 128.
    package static func capacityForThisProcess() -> Int {
        var limit = rlimit()
        // RLIM_INFINITY is all ones; the clamp keeps an unlimited process at the 128 ceiling below.
        let descriptors = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(min(limit.rlim_cur, 1 << 20)) : 1024
        let byDescriptors = descriptors / 16 / 2
        let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        let pagesPerPipe = SplicePipe.preferredCapacity / pageSize
        let byBudget = readSystemNumber("/proc/sys/fs/pipe-user-pages-soft").map { $0 > 0 ? $0 / pagesPerPipe / 2 : 128 } ?? 64
        return max(0, min(128, byDescriptors, byBudget))
    }

    /// An empty pipe: a pooled one, or a new one.
    ///
    /// - Throws: `SocketError` when a new pipe cannot be made (for example `EMFILE`).
    package func take() throws(SocketError) -> SplicePipe {
        let pipe: SplicePipe
        if let pooled = idle.withLock({ $0.popLast() }) {
            pipe = pooled
        } else if makesPipes {
            pipe = try SplicePipe()
        } else {
            throw .failed(operation: "pipe2", errno: Errno(rawValue: EMFILE))
        }
        lent.add(1, ordering: .relaxed)
        return pipe
    }

    /// Returns a pipe after use. Only an empty pipe is kept (one that a transfer left holding bytes is
    /// dropped); past the capacity, pipes are closed.
    package func recycle(_ pipe: SplicePipe) {
        lent.subtract(1, ordering: .relaxed)
        guard pipe.isEmpty else { return }
        idle.withLock { idle in
            if idle.count < capacity { idle.append(pipe) }
        }
    }

    /// Closes every idle pipe: the process is short of descriptors, and sessions need them more.
    package func releaseIdle() {
        let released = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle
        }
        _ = released  // closed here, outside the lock, as the array goes
    }

    /// Idle pipes held now.
    package var idleCount: Int { idle.withLock { $0.count } }

    /// Pipes taken and not yet given back: the pipes relays hold now.
    package var lentCount: Int { lent.load(ordering: .relaxed) }

    /// A number from a one-line file under /proc, if it can be read.
    private static func readSystemNumber(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return Int(String(decoding: bytes[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
