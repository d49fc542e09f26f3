import Dispatch
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import AsyncSockets

/// The resolver's thread pool, driven with blocking closures that stand in for a stuck `getaddrinfo`.
@Suite struct BlockingThreadPoolTests {
    /// Something a job captures, to see when the pool lets go of the job.
    final class Token: Sendable {}

    /// A job that blocks its thread until `release()`.
    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private let entered = Atomic<Bool>(false)
        var hasEntered: Bool { entered.load(ordering: .acquiring) }

        func block() {
            entered.store(true, ordering: .releasing)
            semaphore.wait()
        }

        func release() { semaphore.signal() }
    }

    /// Occupies the pool's only thread and returns the gate that holds it, and the task of the job.
    static func occupy(_ pool: BlockingThreadPool) async -> (Gate, Task<Void, any Error>) {
        let gate = Gate()
        let task = Task { try await pool.run { gate.block() } }
        #expect(await eventually(.seconds(20)) { gate.hasEntered }, "the blocking job should start")
        return (gate, task)
    }

    @Test func aFullQueueFailsAtOnce() async throws {
        let pool = BlockingThreadPool(maximumThreads: 1, maximumQueuedJobs: 2)
        let (gate, blocker) = await Self.occupy(pool)
        let queued = (0..<2).map { value in Task { try await pool.run { value } } }
        #expect(await eventually { pool.queuedJobs == 2 })
        let start = ContinuousClock.now
        await #expect(throws: BlockingThreadPool.Saturated.self) { try await pool.run { 99 } }
        #expect(ContinuousClock.now - start < .seconds(1), "a full queue fails the call at once")
        gate.release()
        try await blocker.value
        #expect(try await queued[0].value == 0)
        #expect(try await queued[1].value == 1)
        #expect(try await pool.run { 7 } == 7, "room again once the queue drains")
    }

    /// Jobs counted at a barrier: each waits (blocking its thread) until `count` jobs have arrived.
    final class Barrier: Sendable {
        private let arrived = Atomic<Int>(0)
        let count: Int
        init(count: Int) { self.count = count }

        /// Whether all jobs arrived within ten seconds: only if they ran on threads of their own at once.
        func arriveAndWait() -> Bool {
            arrived.add(1, ordering: .relaxed)
            let clock = ContinuousClock()
            let until = clock.now + .seconds(10)
            while arrived.load(ordering: .relaxed) < count {
                if clock.now > until { return false }
                usleep(1000)
            }
            return true
        }
    }

    /// A burst of slow lookups gets a thread each (up to the maximum), even when an idle thread is
    /// already there: one slow name must not hold up the names that came with it.
    @Test func aBurstOfJobsGetsAThreadEach() async throws {
        let pool = BlockingThreadPool(maximumThreads: 4, maximumQueuedJobs: 16)
        #expect(try await pool.run { 1 } == 1)  // leaves one idle thread
        let barrier = Barrier(count: 4)
        let jobs = (0..<4).map { _ in Task { try await pool.run { barrier.arriveAndWait() } } }
        for job in jobs { #expect(try await job.value, "a job waited behind another instead of getting a thread") }
    }

    @Test func abandonedJobsNeverRunAndAreReleased() async throws {
        let pool = BlockingThreadPool(maximumThreads: 1, maximumQueuedJobs: 8)
        let (gate, blocker) = await Self.occupy(pool)
        let ran = Atomic<Int>(0)
        weak var weakToken: Token?
        do {
            let token = Token()
            weakToken = token
            // Timed out while queued.
            await #expect(throws: SocketError.timedOut) {
                try await pool.run(timeout: .milliseconds(50)) { withExtendedLifetime(token) { ran.add(1, ordering: .relaxed) } }
            }
            // Cancelled while queued.
            let cancelled = Task { try await pool.run { withExtendedLifetime(token) { ran.add(1, ordering: .relaxed) } } }
            #expect(await eventually { pool.queuedJobs == 1 })
            cancelled.cancel()
            await #expect(throws: CancellationError.self) { try await cancelled.value }
        }
        #expect(pool.queuedJobs == 0, "a job nobody waits for leaves the queue")
        #expect(weakToken == nil, "and what it captured is released")
        gate.release()
        try await blocker.value
        #expect(try await pool.run { 1 } == 1)
        #expect(ran.load(ordering: .relaxed) == 0, "abandoned jobs never run")
    }

    @Test func finishedJobsAreReleased() async throws {
        let pool = BlockingThreadPool(maximumThreads: 2, maximumQueuedJobs: 8)
        weak var weakToken: Token?
        do {
            let token = Token()
            weakToken = token
            for _ in 0..<3 {
                _ = try await pool.run { withExtendedLifetime(token) { 0 } }
            }
        }
        #expect(await eventually { weakToken == nil }, "a job's closure is released once it ran")
    }
}
