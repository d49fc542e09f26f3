import AsyncSockets
import CEpoll

/// When the daemon gives freed heap back to the system: after a burst of sessions has ended.
///
/// glibc keeps what sessions freed in its arenas for reuse, so after thousands of sessions close the resident
/// set stays at its high-water mark for good (seen: 83 MB after 9,500 idle sessions closed, against 22 MB at
/// start). Trimming costs a walk of every arena, so it is done only once the open-session count has fallen
/// well below its peak (to at most half of it, and by at least `minimumFall` sessions) and stayed there for
/// `quietPeriod`; the trim then makes the current count the new peak, so one burst is trimmed once.
struct MemoryReturn {
    private enum State {
        /// Following the count up: `peak` is the most sessions open since the last trim.
        case following(peak: Int)
        /// The count has been well below `peak` since `since` (monotonic nanoseconds).
        case fallen(peak: Int, since: Int64)
    }

    /// How far below the peak the count must fall before a trim is worth it: a smaller burst leaves at most a
    /// few megabytes behind.
    let minimumFall: Int
    /// How long the count must stay down: a count that dips between two bursts leaves the heap to the next.
    let quietPeriod: Duration
    private var state = State.following(peak: 0)

    init(minimumFall: Int = 256, quietPeriod: Duration = .seconds(10)) {
        self.minimumFall = minimumFall
        self.quietPeriod = quietPeriod
    }

    /// Takes the number of open sessions at `now` (monotonic nanoseconds); the peak the count fell from when
    /// the heap should be trimmed now, else nil.
    mutating func observe(openSessions open: Int, now: Int64) -> Int? {
        switch state {
        case .following(let peak):
            if open > peak {
                state = .following(peak: open)
            } else if isWellBelow(peak, open) {
                state = .fallen(peak: peak, since: now)
            }
            return nil
        case .fallen(let peak, let since):
            guard isWellBelow(peak, open) else {
                state = .following(peak: max(peak, open))
                return nil
            }
            guard now - since >= MonotonicClock.nanoseconds(of: quietPeriod) else { return nil }
            state = .following(peak: open)
            return peak
        }
    }

    private func isWellBelow(_ peak: Int, _ open: Int) -> Bool {
        open <= peak / 2 && peak - open >= minimumFall
    }

    /// Samples `openSessions` every `interval` until cancelled, trimming the heap when `observe` says so.
    static func run(every interval: Duration = .seconds(2), openSessions: @Sendable () -> Int, trimmed: @Sendable (_ peak: Int, _ openSessions: Int) -> Void) async {
        var policy = MemoryReturn()
        while !Task.isCancelled {
            let open = openSessions()
            if let peak = policy.observe(openSessions: open, now: MonotonicClock.nanoseconds()) {
                _ = cepoll_malloc_trim()
                trimmed(peak, open)
            }
            try? await Task.sleep(for: interval)
        }
    }
}
