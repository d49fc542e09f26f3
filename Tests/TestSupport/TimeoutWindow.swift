/// How long a test waits for a timeout of the server's to fire: from when the test knows the timer is
/// running, the timeout plus `slack`.
///
/// The slack covers a loaded machine (both cores busy) and AddressSanitizer, where a timer fires late by up
/// to a second or two; it is still small next to the timeouts that tests set (0.3 to 4 s), so a timeout that
/// never fires, or fires at some multiple of itself, fails the test instead of passing within a flat 20 s.
///
/// ```swift
/// let window = TimeoutWindow(.milliseconds(300))   // after the last exchange: the timer is running
/// #expect(try await client.closesWithin(window.remaining), "not closed \(window)")
/// ```
package struct TimeoutWindow: Sendable, CustomStringConvertible {
    /// What a timer may add to its timeout on a loaded machine or under AddressSanitizer.
    package static let slack: Duration = .seconds(5)

    package let timeout: Duration
    package let start: ContinuousClock.Instant

    /// A window for `timeout`, whose timer is known to be running since `start` (now by default). Starting
    /// the window after the server's timer started only makes it longer.
    package init(_ timeout: Duration, since start: ContinuousClock.Instant = .now) {
        self.timeout = timeout
        self.start = start
    }

    /// When the timeout must have fired by.
    package var deadline: ContinuousClock.Instant { start + timeout + Self.slack }

    /// What is left of the window (never negative): how long to wait at most from now.
    package var remaining: Duration { max(.zero, deadline - .now) }

    package var description: String { "within \(timeout) + \(Self.slack) of the timer's start" }
}
