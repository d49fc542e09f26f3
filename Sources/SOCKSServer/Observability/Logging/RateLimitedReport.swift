import AsyncSockets
import Synchronization

/// Lets a report through at most once per interval, however many tasks try: the accept loops of all
/// event loops hit a descriptor shortage together, and one log line should say so.
final class RateLimitedReport: Sendable {
    private let lastReport = Atomic<Int64>(Int64.min / 2)
    private let interval: Int64

    init(interval: Duration) {
        self.interval = MonotonicClock.nanoseconds(of: interval)
    }

    /// Runs `report` unless another report ran less than the interval ago.
    func callAsFunction(_ report: () -> Void) {
        let nanoseconds = MonotonicClock.nanoseconds()
        let last = lastReport.load(ordering: .relaxed)
        guard nanoseconds - last >= interval,
              lastReport.compareExchange(expected: last, desired: nanoseconds, ordering: .relaxed).exchanged
        else { return }
        report()
    }
}
