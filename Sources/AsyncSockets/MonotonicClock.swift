import Glibc

/// `CLOCK_MONOTONIC` as plain integers, for code that stores times in atomics or compares them in hot
/// paths (a vDSO call, cheap enough per relayed chunk), and the conversion of a `Duration` to match.
package enum MonotonicClock {
    /// Nanoseconds since an arbitrary, fixed point.
    package static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// `duration` in whole nanoseconds.
    package static func nanoseconds(of duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
