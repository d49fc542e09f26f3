import Foundation
import Synchronization

/// A few dedicated threads for calls that block (`getaddrinfo`, password hashing), so they never occupy the
/// cooperative pool or an event loop that runs every session's tasks.
///
/// Bounded on both sides: at most `maximumThreads` threads (started on demand, then kept: a handful of
/// parked threads cost less than starting one per burst), and at most `maximumQueuedJobs` jobs waiting for
/// a thread. A job whose waiter gives up (cancelled, timed out) leaves the queue at once, and a thread that
/// reaches a job whose waiter has just gone skips it: nobody's lookup waits behind work nobody wants.
package final class BlockingThreadPool: Sendable {
    /// The queue is full: the call fails at once instead of waiting behind work that cannot keep up.
    package struct Saturated: Error, CustomStringConvertible {
        package let queuedJobs: Int
        package var description: String { "\(queuedJobs) jobs already waiting for a thread" }
    }

    private struct Job {
        let id: UInt64
        let run: @Sendable () -> Void
    }

    private struct State {
        /// First in, first out; short (at most `maximumQueuedJobs`), so removing from the front or the
        /// middle is cheap, and a taken or abandoned job is no longer referenced by the queue.
        var jobs: [Job] = []
        var nextID: UInt64 = 0
        var idleThreads = 0
        var threads = 0
    }

    private let maximumThreads: Int
    let maximumQueuedJobs: Int
    /// What the threads are called (in `top -H`, gdb, crash reports).
    private let threadName: String
    private let state = Mutex(State())
    /// Signalled once per submitted job; a thread that wakes to a job abandoned meanwhile goes back to sleep.
    private let available = DispatchSemaphore(value: 0)

    package init(maximumThreads: Int, maximumQueuedJobs: Int, threadName: String = "socksd-blocking") {
        self.maximumThreads = max(1, maximumThreads)
        self.maximumQueuedJobs = max(1, maximumQueuedJobs)
        self.threadName = threadName
    }

    /// Runs `body` on a pool thread and returns its result; cancellation, or `timeout` (which throws
    /// `SocketError.timedOut`), stops the wait, and the job with it unless a thread has already started it.
    ///
    /// - Throws: `Saturated` at once when `maximumQueuedJobs` jobs are already waiting.
    package func run<Result: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () -> Result) async throws -> Result {
        let box = OneShot<Result>()
        // The job checks the box first: a waiter that gave up between the removal and the start is skipped.
        let id = try submit {
            guard !box.isResolved else { return }
            box.resume(with: .success(body()))
        }
        let timer: LoopTimer?
        do {
            timer = try timeout.map { (timeout) throws(SocketError) in
                try EventLoop.scheduleOnAnyLoop(after: timeout) { [self] in
                    // Out of the queue first: once the waiter resumes, nothing of the job is left behind.
                    abandon(id)
                    box.resume(with: .failure(SocketError.timedOut))
                }
            }
        } catch {
            abandon(id)
            throw error
        }
        defer { timer?.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                box.install(continuation)
            }
        } onCancel: {
            abandon(id)
            box.resume(with: .failure(CancellationError()))
        }
    }

    /// How many jobs wait for a thread (for tests).
    var queuedJobs: Int { state.withLock { $0.jobs.count } }

    private func submit(_ run: @escaping @Sendable () -> Void) throws(Saturated) -> UInt64 {
        let (id, startThread): (UInt64, Bool) = try state.withLock { (state) throws(Saturated) in
            guard state.jobs.count < maximumQueuedJobs else { throw Saturated(queuedJobs: state.jobs.count) }
            let id = state.nextID
            state.nextID += 1
            state.jobs.append(Job(id: id, run: run))
            // A thread for every job no idle thread will take: an idle thread already signalled for an
            // earlier job still counts as idle until it wakes, so comparing with the queue (not with zero)
            // keeps a burst from waiting behind one thread.
            guard state.jobs.count > state.idleThreads && state.threads < maximumThreads else { return (id, false) }
            state.threads += 1
            return (id, true)
        }
        if startThread {
            let thread = Thread { [self] in work() }
            thread.name = threadName
            thread.start()
        }
        available.signal()
        return id
    }

    /// Drops a job nobody waits for any more, if no thread has taken it yet.
    private func abandon(_ id: UInt64) {
        // The removed job is returned, so its closure (and what it captured) is released outside the lock.
        _ = state.withLock { state -> Job? in
            guard let index = state.jobs.firstIndex(where: { $0.id == id }) else { return nil }
            return state.jobs.remove(at: index)
        }
    }

    private func work() {
        while true {
            state.withLock { $0.idleThreads += 1 }
            available.wait()
            let job: Job? = state.withLock { state in
                state.idleThreads -= 1
                return state.jobs.isEmpty ? nil : state.jobs.removeFirst()
            }
            job?.run()
        }
    }
}
