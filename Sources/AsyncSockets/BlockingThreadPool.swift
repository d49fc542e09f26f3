import Foundation
import Synchronization

/// A few dedicated threads for calls that block (`getaddrinfo`), so they never occupy the cooperative pool
/// that runs every session's tasks.
final class BlockingThreadPool: Sendable {
    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var idleThreads = 0
        var threads = 0
    }

    private let maximumThreads: Int
    private let queue = Mutex(Queue())
    private let available = DispatchSemaphore(value: 0)

    init(maximumThreads: Int) {
        self.maximumThreads = maximumThreads
    }

    /// Runs `body` on a pool thread and returns its result; cancellation, or `timeout` (which throws
    /// `SocketError.timedOut`), stops the wait, not the call.
    func run<Result: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () -> Result) async throws -> Result {
        let box = OneShot<Result>()
        let timer = timeout.map { timeout in
            EventLoop.group.loopForNewSocket().schedule(after: timeout) { box.resume(with: .failure(SocketError.timedOut)) }
        }
        defer { timer?.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                box.install(continuation)
                submit { box.resume(with: .success(body())) }
            }
        } onCancel: {
            box.resume(with: .failure(CancellationError()))
        }
    }

    private func submit(_ job: @escaping @Sendable () -> Void) {
        let startThread = queue.withLock { queue in
            queue.jobs.append(job)
            if queue.idleThreads == 0 && queue.threads < maximumThreads {
                queue.threads += 1
                return true
            }
            return false
        }
        if startThread {
            let thread = Thread { [self] in self.work() }
            thread.name = "socksd-resolver"
            thread.start()
        }
        available.signal()
    }

    private func work() {
        while true {
            queue.withLock { $0.idleThreads += 1 }
            available.wait()
            let job: (@Sendable () -> Void)? = queue.withLock { queue in
                queue.idleThreads -= 1
                guard queue.head < queue.jobs.count else { return nil }
                let job = queue.jobs[queue.head]
                queue.head += 1
                if queue.head == queue.jobs.count { queue.jobs.removeAll(keepingCapacity: true); queue.head = 0 }
                return job
            }
            job?()
        }
    }
}
