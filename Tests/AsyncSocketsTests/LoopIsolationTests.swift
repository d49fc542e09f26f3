import Synchronization
import Testing
@testable import AsyncSockets

/// Issue 19: how a loop runs its two kinds of job. An actor whose executor is the loop's `isolation` (as a
/// server session's is) runs on the loop's thread, isolated to it; a task that only prefers the loop runs
/// there without that isolation, so its calls into nonisolated async code run inline instead of queueing
/// the task again (they used to: every job ran isolated to the loop, 51 jobs per CONNECT session against
/// 16 now).
@Suite struct LoopIsolationTests {
    /// An actor that lives on a loop, as `SOCKSSession` does.
    actor Resident {
        let loop: EventLoop
        private(set) var calls = 0
        nonisolated var unownedExecutor: UnownedSerialExecutor { loop.isolation.asUnownedSerialExecutor() }

        init(loop: EventLoop) {
            self.loop = loop
        }

        /// Counts a call; whether it ran on the loop's thread.
        func call() -> Bool {
            calls += 1
            return loop.isCurrent
        }
    }

    /// Nonisolated code that runs on the generic executor (`@concurrent`): for a task that prefers a loop,
    /// the loop. It does not suspend.
    @concurrent static func concurrentWork(_ loop: EventLoop, _ value: Int) async -> (Int, onLoop: Bool) {
        (value &* 31 &+ 7, loop.isCurrent)
    }

    @Test func anActorOnALoopRunsOnItsThreadWhoeverCallsIt() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        let resident = Resident(loop: loop)
        // From a task of the global pool (a hop onto the loop), and from a task that prefers the loop.
        #expect(await resident.call())
        #expect(await Task(executorPreference: loop) { await resident.call() }.value)
        // Isolated: a thousand calls from 8 tasks at once all count.
        await withTaskGroup(of: Void.self) { tasks in
            for index in 0..<8 {
                tasks.addTask(executorPreference: index.isMultiple(of: 2) ? loop : nil) {
                    for _ in 0..<125 { _ = await resident.call() }
                }
            }
        }
        #expect(await resident.calls == 1002)
        // The runtime's own check of the isolation (through `LoopIsolation.checkIsolated` when it cannot
        // tell from its records) holds on the loop.
        let checked = await Task(executorPreference: loop) { resident.loop.isCurrent && (resident.assumeIsolated { $0.calls } == 1002) }.value
        #expect(checked)
        await group.shutdown()
    }

    @Test func aTaskThatPrefersALoopCallsNonisolatedCodeWithoutQueueingItselfAgain() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        let (queued, allOnLoop) = await Task(executorPreference: loop) { () -> (Int, Bool) in
            let before = loop.jobsQueued
            var onLoop = true
            var value = 0
            for index in 0..<200 {
                let (next, here) = await Self.concurrentWork(loop, value &+ index)
                value = next
                onLoop = onLoop && here
            }
            return (loop.jobsQueued - before, onLoop && value != 0)
        }.value
        #expect(allOnLoop)
        // 200 calls: none needs a round trip through the queue (when every job ran isolated to the loop,
        // each call queued the task twice, there and back: 400). A few jobs of other work may land meanwhile.
        #expect(queued < 20, "\(queued) jobs queued for 200 calls into nonisolated code")
        await group.shutdown()
    }
}
