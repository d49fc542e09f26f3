import AsyncSockets
import Synchronization

/// One user's bandwidth cap: bytes per second across all of that user's sessions, both directions.
///
/// A balance of bytes that refills at the cap, up to a burst of a tenth of a second's worth (at least
/// 64 KiB). A TCP relay moves a bounded chunk, then pays for it (`consume`) — the balance may go below zero
/// — and before its next chunk waits until the balance is back at zero (`delay`). So splice keeps moving
/// whole chunks, and over any few seconds the user's rate is the cap, however many sessions share it. A
/// datagram either fits in the balance or is dropped (`admitDatagram`): UDP is policed, not queued.
final class BandwidthLimiter: Sendable {
    let bytesPerSecond: Int
    private let burst: Double
    private let state: Mutex<(balance: Double, updated: Int64)>

    init(bytesPerSecond: Int) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        burst = max(64 * 1024, Double(self.bytesPerSecond) / 10)
        state = Mutex((burst, MonotonicClock.nanoseconds()))
    }

    /// Pays for `bytes` that moved.
    func consume(_ bytes: Int) {
        let now = MonotonicClock.nanoseconds()
        state.withLock { state in
            refill(&state, now: now)
            state.balance -= Double(bytes)
        }
    }

    /// How long to wait before moving more: until the balance is back at zero; nil when it is not below.
    func delay() -> Duration? {
        let now = MonotonicClock.nanoseconds()
        let deficit = state.withLock { state -> Double in
            refill(&state, now: now)
            return -state.balance
        }
        guard deficit > 0 else { return nil }
        return .nanoseconds(Int64((deficit / Double(bytesPerSecond) * 1e9).rounded(.up)))
    }

    /// Takes `bytes` for a datagram if the balance has them; false means drop it.
    func admitDatagram(_ bytes: Int) -> Bool {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state in
            refill(&state, now: now)
            guard state.balance >= Double(bytes) else { return false }
            state.balance -= Double(bytes)
            return true
        }
    }

    private func refill(_ state: inout (balance: Double, updated: Int64), now: Int64) {
        let elapsed = Double(max(0, now - state.updated)) / 1e9
        state.balance = min(burst, state.balance + elapsed * Double(bytesPerSecond))
        state.updated = now
    }
}
