/// Decides whether an event loop that ran out of work polls for a moment before it sleeps.
///
/// A short spin pays when the next event comes within it: a reply on loopback or on a fast network then
/// costs no sleep and no wake-up (on a virtual machine those cost more than the spin). It is waste when
/// nothing comes, and harmful when the machine has no idle core: the spinning thread then holds the CPU
/// that the peer needs to produce the event. So the loop spins only if it was active within `window`, it
/// yields the CPU between polls (a runnable thread on the same core goes first), and each spin that finds
/// nothing makes it skip the next spins, twice as many after every further miss (up to 64), until one hits.
struct SpinPolicy {
    /// Whether the next sleeps are preceded by a spin.
    enum Mode: Equatable {
        /// Spin when recently active.
        case ready
        /// Sleep at once for `skipsLeft` more times; `misses` spins in a row found nothing.
        case backingOff(skipsLeft: Int, misses: Int)
    }

    /// How long a spin polls at most (µs); 0 turns spinning off. The loop sets it each turn.
    var limit: Int64
    /// How recent the last event must be for the loop to spin (µs).
    let window: Int64
    private(set) var mode = Mode.ready
    /// When the loop last found events (µs, monotonic).
    private var lastActive: Int64 = .min / 2

    /// The most spins skipped after a miss.
    static let maximumSkips = 64

    init(limit: Int64, window: Int64) {
        self.limit = limit
        self.window = window
    }

    /// The loop found events (or jobs) at `now`.
    mutating func noteActivity(at now: Int64) {
        lastActive = now
    }

    /// Whether to spin before this sleep; counts a skipped spin while backing off.
    mutating func shouldSpin(at now: Int64) -> Bool {
        guard limit > 0, now - lastActive < window else { return false }
        switch mode {
        case .ready:
            return true
        case .backingOff(0, _):
            return true  // a trial spin: a hit ends the back-off, a miss doubles it
        case .backingOff(let skipsLeft, let misses):
            mode = .backingOff(skipsLeft: skipsLeft - 1, misses: misses)
            return false
        }
    }

    /// A spin ended: with events (a hit) or after `limit` without any (a miss).
    mutating func spinEnded(foundEvents: Bool) {
        switch (mode, foundEvents) {
        case (_, true):
            mode = .ready
        case (.ready, false):
            mode = .backingOff(skipsLeft: 1, misses: 1)
        case (.backingOff(_, let misses), false):
            mode = .backingOff(skipsLeft: min(1 << min(misses, 6), Self.maximumSkips), misses: misses + 1)
        }
    }
}
