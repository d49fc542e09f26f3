import Synchronization
import Testing
@testable import AsyncSockets

@Suite struct EventLoopTimerTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    @Test func scheduledActionsFireInDeadlineOrderAndCancelledOnesNever() async throws {
        let loops = try EventLoopHold(nil)
        defer { loops.release() }
        let loop = loops.group.next()
        let order = Mutex<[Int]>([])
        // Deadlines from one base, set and cancelled on the loop's own thread: a test held up between the calls
        // (a loaded machine) can neither reorder them nor let the cancelled one fire first.
        let (late, cancelled, early, middle) = await withTaskExecutorPreference(loop) {
            let base = MonotonicClock.nanoseconds()
            let late = loop.schedule(atMonotonicNanoseconds: base + 120_000_000) { order.withLock { $0.append(3) } }
            let cancelled = loop.schedule(atMonotonicNanoseconds: base + 60_000_000) { order.withLock { $0.append(99) } }
            let early = loop.schedule(atMonotonicNanoseconds: base + 30_000_000) { order.withLock { $0.append(1) } }
            let middle = loop.schedule(atMonotonicNanoseconds: base + 80_000_000) { order.withLock { $0.append(2) } }
            cancelled.cancel()
            return (late, cancelled, early, middle)
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while !late.hasFired && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(order.withLock { $0 } == [1, 2, 3])
        #expect(early.hasFired && middle.hasFired && late.hasFired)
        #expect(!cancelled.hasFired)
    }

    final class Captured: Sendable {}

    @Test func cancellingATimerReleasesWhatItsActionCapturedAtOnce() async throws {
        let loops = try EventLoopHold(nil)
        defer { loops.release() }
        let loop = loops.group.next()
        weak var released: Captured?
        var timers: [LoopTimer] = []
        do {
            let captured = Captured()
            released = captured
            // Far-off deadlines, as a handshake deadline of a client that answered in time.
            for _ in 0..<100 {
                timers.append(loop.schedule(after: .seconds(3600)) { _ = captured })
            }
        }
        #expect(released != nil)
        #expect(timers.allSatisfy { $0.heapIndex.load(ordering: .relaxed) >= 0 })
        for timer in timers { timer.cancel() }
        // Cancelling removes each timer from the heap and drops its action (and so `captured`), now.
        #expect(released == nil)
        #expect(timers.allSatisfy { $0.heapIndex.load(ordering: .relaxed) == -1 })
        #expect(timers.allSatisfy { !$0.hasFired })
    }

    @Test func timersCancelledInAnyOrderLeaveTheRestFiringInOrder() async throws {
        let loops = try EventLoopHold(nil)
        defer { loops.release() }
        let loop = loops.group.next()
        let order = Mutex<[Int]>([])
        // Scheduled and cancelled in one go on the loop's own thread, so no timer can fire in between,
        // however slow the machine.
        let expected = await withTaskExecutorPreference(loop) { () -> [Int] in
            var timers: [(Int, LoopTimer)] = []
            let base = MonotonicClock.nanoseconds()
            for index in 0..<60 {
                let delay = 20 + (index * 37) % 60
                timers.append((delay, loop.schedule(atMonotonicNanoseconds: base + Int64(delay) * 1_000_000) { order.withLock { $0.append(delay) } }))
            }
            // Cancel every third, from the middle of the heap as well as the top.
            for (position, entry) in timers.enumerated() where position % 3 == 0 { entry.1.cancel() }
            return timers.enumerated().filter { $0.offset % 3 != 0 }.map(\.element.0).sorted()
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while order.withLock({ $0.count }) < expected.count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(order.withLock { $0 } == expected)
    }

    @Test func loopSleepWaitsAndCanBeCancelled() async throws {
        let loops = try EventLoopHold(nil)
        defer { loops.release() }
        let loop = loops.group.next()
        let clock = ContinuousClock()
        let start = clock.now
        try await loop.sleep(for: .milliseconds(100))
        #expect(clock.now - start >= .milliseconds(95))

        let sleeper = Task { try await loop.sleep(for: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }

    @Test func aTimerScheduledFromTheLoopsOwnThreadFires() async throws {
        let loops = try EventLoopHold(nil)
        defer { loops.release() }
        let loop = loops.group.next()
        let fired = Counter()
        // From a task that runs on the loop, the timer is added without waking anything: the loop must
        // still take it into account before it sleeps.
        try await withTaskExecutorPreference(loop) {
            #expect(loop.isCurrent)
            _ = loop.schedule(after: .milliseconds(40)) { fired.value.add(1, ordering: .relaxed) }
            try await loop.sleep(for: .milliseconds(150))
        }
        #expect(fired.value.load(ordering: .relaxed) == 1)
    }

    @Test func resolverTimeoutStillResolvesInTime() async throws {
        let addresses = try await NameResolver.shared.resolve(host: "localhost", port: 80, timeout: .seconds(10))
        #expect(addresses.contains(SocketAddress(ip: .ipv4Loopback, port: 80)))
        await #expect(throws: SocketError.nameNotFound("x.invalid")) {
            try await NameResolver.shared.resolve(host: "x.invalid", port: 80, timeout: .seconds(10))
        }
    }
}
