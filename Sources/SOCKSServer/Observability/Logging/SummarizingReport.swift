import AsyncSockets
import Synchronization

/// Logs the first of a run of similar events at once, then at most one line per interval saying how many
/// more there were. A client that is refused thousands of times a second costs the log one line now and
/// one line every interval, and the last of its refusals are still counted (a loop timer writes the
/// summary when the interval ends, whether or not another event comes; it holds the report until then).
final class SummarizingReport: Sendable {
    private enum State {
        /// Nothing reported within the interval: the next event is reported at once.
        case quiet
        /// An event was reported; until `until`, events are only counted. `flush` is the timer that will
        /// write the summary of `suppressed` events, armed when the first of them arrives.
        case holding(until: Int64, suppressed: Int, flush: LoopTimer?)
    }

    private let state = Mutex(State.quiet)
    private let interval: Duration
    private let summary: @Sendable (_ suppressed: Int) -> Void

    /// - Parameter summary: writes the line for events counted but not reported within an interval.
    init(interval: Duration, summary: @escaping @Sendable (_ suppressed: Int) -> Void) {
        self.interval = interval
        self.summary = summary
    }

    /// Runs `report` if nothing was reported within the interval; otherwise counts the event for the summary.
    func callAsFunction(_ report: () -> Void) {
        let now = MonotonicClock.nanoseconds()
        let intervalNanoseconds = MonotonicClock.nanoseconds(of: interval)
        // When an interval has ended but its flush timer has not run yet, its count is summarised here,
        // before this event's own line, and the timer has nothing left to do.
        let (reportNow, overdue) = state.withLock { state -> (Bool, Int) in
            switch state {
            case .holding(let until, let suppressed, let flush) where until > now:
                // The timer holds the report until it fires (an interval at most), so the summary is written
                // even if the report's owner is gone by then. (Strongly: a weak reference's side table would
                // outlive a report that lives as long as the process, which LeakSanitizer reports.)
                // On the calling thread's loop (accept loops and sessions run on one), else a shared one;
                // with no loop to be had (no descriptor for one), the next event or interval tries again.
                let flush = flush ?? (try? EventLoop.scheduleOnAnyLoop(after: .nanoseconds(until - now)) { self.flush() })
                state = .holding(until: until, suppressed: suppressed + 1, flush: flush)
                return (false, 0)
            case .holding(_, let suppressed, let flush):
                flush?.cancel()
                state = .holding(until: now + intervalNanoseconds, suppressed: 0, flush: nil)
                return (true, suppressed)
            case .quiet:
                state = .holding(until: now + intervalNanoseconds, suppressed: 0, flush: nil)
                return (true, 0)
            }
        }
        if overdue > 0 { summary(overdue) }
        if reportNow { report() }
    }

    /// At the end of an interval with suppressed events: write their summary, and hold for another interval
    /// so that a run that goes on is summarised once per interval.
    private func flush() {
        let now = MonotonicClock.nanoseconds()
        let intervalNanoseconds = MonotonicClock.nanoseconds(of: interval)
        let suppressed = state.withLock { state -> Int in
            switch state {
            case .quiet:
                return 0
            case .holding(_, let suppressed, _):
                state = suppressed > 0 ? .holding(until: now + intervalNanoseconds, suppressed: 0, flush: nil) : .quiet
                return suppressed
            }
        }
        if suppressed > 0 { summary(suppressed) }
    }


}
