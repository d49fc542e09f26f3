import Testing
@testable import AsyncSockets

@Suite struct SpinPolicyTests {
    @Test func spinsOnlyWhenRecentlyActiveAndEnabled() {
        var policy = SpinPolicy(limit: 50, window: 1000)
        let neverActive = policy.shouldSpin(at: 10_000)
        policy.noteActivity(at: 10_000)
        let recentlyActive = policy.shouldSpin(at: 10_500)
        let windowPassed = policy.shouldSpin(at: 11_000)
        #expect(!neverActive && recentlyActive && !windowPassed)
        var off = SpinPolicy(limit: 0, window: 1000)
        off.noteActivity(at: 10_000)
        let disabled = off.shouldSpin(at: 10_000)
        #expect(!disabled)
    }

    @Test func missesBackOffDoublingAndAHitResets() {
        var policy = SpinPolicy(limit: 50, window: 1000)
        policy.noteActivity(at: 0)
        func skipsBeforeNextSpin() -> Int {
            var skipped = 0
            while !policy.shouldSpin(at: 0) { skipped += 1 }
            return skipped
        }
        let first = policy.shouldSpin(at: 0)
        #expect(first)
        policy.spinEnded(foundEvents: false)
        var skips: [Int] = []
        for _ in 0..<9 {
            skips.append(skipsBeforeNextSpin())
            policy.spinEnded(foundEvents: false)
        }
        #expect(skips == [1, 2, 4, 8, 16, 32, 64, 64, 64])
        #expect(skipsBeforeNextSpin() == 64)
        policy.spinEnded(foundEvents: true)
        #expect(policy.mode == .ready)
        let afterHit = policy.shouldSpin(at: 0)
        #expect(afterHit)
    }
}
