import Testing

@testable import socksd

/// `MemoryReturn`: when the daemon trims its heap. Times are monotonic nanoseconds, given by the test.
@Suite struct MemoryReturnTests {
    static let second: Int64 = 1_000_000_000

    @Test func aBurstIsTrimmedOnceAfterTheCountStaysDown() {
        var policy = MemoryReturn(minimumFall: 256, quietPeriod: .seconds(10))
        #expect(policy.observe(openSessions: 0, now: 0) == nil)
        #expect(policy.observe(openSessions: 5_000, now: 1 * Self.second) == nil)
        #expect(policy.observe(openSessions: 100, now: 2 * Self.second) == nil)
        #expect(policy.observe(openSessions: 50, now: 11 * Self.second) == nil)
        #expect(policy.observe(openSessions: 0, now: 12 * Self.second) == 5_000)
        // Trimmed once: the count that stayed down is the new peak.
        #expect(policy.observe(openSessions: 0, now: 40 * Self.second) == nil)
    }

    @Test func aDipBetweenBurstsStartsTheWaitAgain() {
        var policy = MemoryReturn(minimumFall: 256, quietPeriod: .seconds(10))
        _ = policy.observe(openSessions: 2_000, now: 0)
        #expect(policy.observe(openSessions: 10, now: 1 * Self.second) == nil)
        #expect(policy.observe(openSessions: 1_500, now: 5 * Self.second) == nil)
        #expect(policy.observe(openSessions: 10, now: 12 * Self.second) == nil)
        #expect(policy.observe(openSessions: 10, now: 21 * Self.second) == nil)
        #expect(policy.observe(openSessions: 10, now: 22 * Self.second) == 2_000)
    }

    @Test func smallFallsAndHalfFallsAreLeftAlone() {
        var policy = MemoryReturn(minimumFall: 256, quietPeriod: .seconds(10))
        _ = policy.observe(openSessions: 300, now: 0)
        // Less than minimumFall below the peak.
        #expect(policy.observe(openSessions: 100, now: 1 * Self.second) == nil)
        #expect(policy.observe(openSessions: 100, now: 60 * Self.second) == nil)
        _ = policy.observe(openSessions: 10_000, now: 61 * Self.second)
        // Not down to half.
        #expect(policy.observe(openSessions: 6_000, now: 62 * Self.second) == nil)
        #expect(policy.observe(openSessions: 6_000, now: 120 * Self.second) == nil)
    }
}
