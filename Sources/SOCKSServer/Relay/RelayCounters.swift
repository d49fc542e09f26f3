import Glibc
import Synchronization

/// Byte counts and the time of the last byte of one relay, shared by its directions without locks.
final class RelayCounters: Sendable {
    private let up = Atomic<Int>(0)
    private let down = Atomic<Int>(0)
    private let lastActivity = Atomic<Int64>(RelayCounters.monotonicNanoseconds())

    var bytesUp: Int { up.load(ordering: .relaxed) }
    var bytesDown: Int { down.load(ordering: .relaxed) }

    func countUp(_ bytes: Int) {
        up.add(bytes, ordering: .relaxed)
        touch()
    }

    func countDown(_ bytes: Int) {
        down.add(bytes, ordering: .relaxed)
        touch()
    }

    func touch() {
        lastActivity.store(Self.monotonicNanoseconds(), ordering: .relaxed)
    }

    /// Nanoseconds since the last byte in either direction.
    var idleNanoseconds: Int64 { Self.monotonicNanoseconds() - lastActivity.load(ordering: .relaxed) }

    /// `CLOCK_MONOTONIC` in nanoseconds: a vDSO call, cheap enough to take once per relayed chunk.
    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
