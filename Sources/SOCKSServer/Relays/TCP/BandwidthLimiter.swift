import AsyncSockets
import Synchronization

/// One user's bandwidth cap: bytes per second across all of that user's sessions, both directions.
///
/// A balance of bytes that refills at the cap, up to a burst of a tenth of a second's worth (at least
/// 64 KiB). A TCP relay waits until the balance holds at least `minimumGrant` (`delay`), takes at most what
/// it holds (`allowance`: a splice or a read is cut to it), and pays for what it took at once (`consume`).
/// So no chunk outruns the cap: a 1 MiB splice at 100 bytes a second would otherwise have put the user
/// hours in debt, every session of the user frozen meanwhile. Over any few seconds the user's rate is the
/// cap, however many sessions share it (directions on other threads may take the same balance at once:
/// the debt is then one allowance each, paid off before their next move). A datagram either fits in the
/// balance or is dropped (`admitDatagram`): UDP is policed, not queued.
final class BandwidthLimiter: Sendable {
    let bytesPerSecond: Int
    private let burst: Double
    private let state: Mutex<(balance: Double, updated: Int64)>

    /// The least a move waits for: a fiftieth of a second's worth (at least a byte, at most the burst), so
    /// a slow cap moves small pieces often rather than a byte at a time.
    let minimumGrant: Int

    init(bytesPerSecond: Int) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        burst = max(64 * 1024, Double(self.bytesPerSecond) / 10)
        minimumGrant = min(Int(burst), max(1, self.bytesPerSecond / 50))
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

    /// How long to wait before moving more: until the balance holds `minimumGrant`; nil when it does.
    func delay() -> Duration? {
        let now = MonotonicClock.nanoseconds()
        let deficit = state.withLock { state -> Double in
            refill(&state, now: now)
            return Double(minimumGrant) - state.balance
        }
        guard deficit > 0 else { return nil }
        return .nanoseconds(Int64((deficit / Double(bytesPerSecond) * 1e9).rounded(.up)))
    }

    /// The most bytes to move now: what the balance holds (at least 1, so that a move the caller already
    /// waited for always makes progress).
    func allowance() -> Int {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state in
            refill(&state, now: now)
            return max(1, Int(state.balance.rounded(.down)))
        }
    }

    /// Waits on `loop`'s timer until the balance holds `minimumGrant` (`delay`): what every capped move
    /// does before it takes its `allowance`.
    ///
    /// - Throws: `CancellationError` when the waiting task is cancelled.
    nonisolated(nonsending) func waitForGrant(on loop: EventLoop) async throws {
        while let wait = delay() { try await loop.sleep(for: wait) }
    }

    /// Writes `bytes` with `write`: at once without a cap, and under one in the pieces it allows, waiting on
    /// `loop`'s timer before each. The write path of the relays that write what they hold (HTTP forwarding,
    /// GSS-API encapsulation).
    nonisolated(nonsending) static func write(
        _ bytes: ArraySlice<UInt8>, under cap: BandwidthLimiter?, pacedOn loop: EventLoop,
        with write: (ArraySlice<UInt8>) async throws -> Void
    ) async throws {
        guard let cap else { return try await write(bytes) }
        var rest = bytes
        while !rest.isEmpty {
            try await cap.waitForGrant(on: loop)
            let piece = rest.prefix(cap.allowance())
            // Paid before the write, which may wait: another writer of the user must not take it meanwhile.
            cap.consume(piece.count)
            try await write(piece)
            rest = rest.dropFirst(piece.count)
        }
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
