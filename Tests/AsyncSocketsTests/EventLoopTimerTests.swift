import Synchronization
import Testing
@testable import AsyncSockets

@Suite struct EventLoopTimerTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    @Test func scheduledActionsFireInDeadlineOrderAndCancelledOnesNever() async throws {
        let loop = EventLoop.group.next()
        let order = Mutex<[Int]>([])
        let late = loop.schedule(after: .milliseconds(120)) { order.withLock { $0.append(3) } }
        let cancelled = loop.schedule(after: .milliseconds(60)) { order.withLock { $0.append(99) } }
        let early = loop.schedule(after: .milliseconds(30)) { order.withLock { $0.append(1) } }
        let middle = loop.schedule(after: .milliseconds(80)) { order.withLock { $0.append(2) } }
        cancelled.cancel()
        try await Task.sleep(for: .milliseconds(400))
        #expect(order.withLock { $0 } == [1, 2, 3])
        #expect(early.hasFired && middle.hasFired && late.hasFired)
        #expect(!cancelled.hasFired)
    }

    @Test func loopSleepWaitsAndCanBeCancelled() async throws {
        let loop = EventLoop.group.next()
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
        let loop = EventLoop.group.next()
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
