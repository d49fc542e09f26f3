import AsyncSockets

/// One client's allowance of new sessions under a `SessionRate`: it holds up to `count` tokens, refills at
/// `count` per interval, and a session takes one.
struct TokenBucket: Sendable {
    private var tokens: Double
    private var updated: Int64

    /// A full bucket at `now` (monotonic nanoseconds).
    init(rate: SessionRate, now: Int64) {
        tokens = Double(rate.count)
        updated = now
    }

    /// Takes a token if there is one.
    mutating func take(rate: SessionRate, now: Int64) -> Bool {
        refill(rate: rate, now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Whether the bucket would be full at `now`: then it is the same as no bucket, and can be forgotten.
    func isFull(rate: SessionRate, now: Int64) -> Bool {
        tokens(rate: rate, now: now) >= Double(rate.count)
    }

    /// The tokens the bucket would hold at `now`.
    func tokens(rate: SessionRate, now: Int64) -> Double {
        var copy = self
        copy.refill(rate: rate, now: now)
        return copy.tokens
    }

    private mutating func refill(rate: SessionRate, now: Int64) {
        let elapsed = Double(max(0, now - updated))
        let perNanosecond = Double(rate.count) / Double(MonotonicClock.nanoseconds(of: rate.interval))
        tokens = min(Double(rate.count), tokens + elapsed * perNanosecond)
        updated = now
    }
}
