import Glibc
import Synchronization

/// The readiness state of one file descriptor registered with the event loop, and the tasks waiting on it.
///
/// The descriptor is registered once, edge-triggered. An edge that arrives while nobody waits is remembered
/// in a per-direction flag, so a wake-up that lands between a syscall's `EAGAIN` and the task suspending is
/// never lost: a wait consumes the flag and returns at once, and the caller retries the syscall.
final class IORegistration: Sendable {
    enum Direction: Sendable {
        case read, write
    }

    /// Who waits in one direction: one task, or a wait on several sockets at once (`ReadinessWait`).
    ///
    /// A task waits with an unsafe continuation, which unlike a checked one costs no allocation per wait: it
    /// is resumed exactly once, by whoever takes it out of its slot under the lock (`signal`, `close`, the
    /// cancellation handler), or at once by `wait` when it never went into a slot.
    private enum Waiter {
        case task(UnsafeContinuation<Void, any Error>)
        case any(ReadinessWait)

        /// A finished shared wait still sitting in a slot counts as no waiter.
        var isLive: Bool {
            if case .any(let wait) = self { return !wait.isFinished }
            return true
        }

        func resume(with result: Result<Void, any Error>) {
            switch self {
            case .task(let continuation): continuation.resume(with: result)
            case .any(let wait): wait.finish(with: result)
            }
        }
    }

    private struct Waiters {
        var readReady = false
        var writeReady = false
        var reader: Waiter?
        var writer: Waiter?
        var closed = false
    }

    let fd: Int32
    /// What epoll hands back for this registration: the generation in the high half, the fd in the low half.
    let token: UInt64
    private let state = Mutex(Waiters())

    init(fd: Int32, generation: UInt32) {
        self.fd = fd
        self.token = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Suspends until the descriptor may be ready in `direction`, the socket is closed, or the task is cancelled.
    ///
    /// One waiter per direction: a socket is read by one task and written by one task at a time.
    nonisolated(nonsending) func wait(for direction: Direction) async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let outcome = install(.task(continuation), for: direction)
                // Resumed outside the lock: resuming can run arbitrary code on this thread.
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { waiters in
                switch direction {
                case .read: defer { waiters.reader = nil }; return waiters.reader
                case .write: defer { waiters.writer = nil }; return waiters.writer
                }
            }
            waiter?.resume(with: .failure(CancellationError()))
        }
    }

    /// Puts `waiter` in the slot for `direction`, unless it can be answered at once.
    ///
    /// - Returns: the immediate answer (ready, closed, cancelled, busy), or `nil` when the waiter now waits.
    private func install(_ waiter: Waiter, for direction: Direction) -> Result<Void, any Error>? {
        state.withLock { waiters in
            if waiters.closed { return .failure(SocketError.closed) }
            if Task.isCancelled { return .failure(CancellationError()) }
            switch direction {
            case .read:
                if waiters.readReady { waiters.readReady = false; return .success(()) }
                if waiters.reader?.isLive == true { return .failure(SocketError.failed(operation: "read wait", errno: Errno(rawValue: EBUSY))) }
                waiters.reader = waiter
            case .write:
                if waiters.writeReady { waiters.writeReady = false; return .success(()) }
                if waiters.writer?.isLive == true { return .failure(SocketError.failed(operation: "write wait", errno: Errno(rawValue: EBUSY))) }
                waiters.writer = waiter
            }
            return nil
        }
    }

    /// Suspends until any of `needs` may be ready (or one of the sockets is closed, or the task is
    /// cancelled): one task can then drive several sockets.
    nonisolated(nonsending) static func waitForAny(_ needs: [(IORegistration, Direction)]) async throws {
        let wait = ReadinessWait()
        defer {
            // Clear the slots this wait still holds, so the next wait on them is not refused as busy.
            for (registration, direction) in needs { registration.remove(wait, from: direction) }
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                wait.install(continuation)
                for (registration, direction) in needs {
                    if let outcome = registration.install(.any(wait), for: direction) {
                        wait.finish(with: outcome)
                        break
                    }
                }
            }
        } onCancel: {
            wait.finish(with: .failure(CancellationError()))
        }
    }

    private func remove(_ wait: ReadinessWait, from direction: Direction) {
        state.withLock { waiters in
            switch direction {
            case .read: if case .any(let held)? = waiters.reader, held === wait { waiters.reader = nil }
            case .write: if case .any(let held)? = waiters.writer, held === wait { waiters.writer = nil }
            }
        }
    }

    /// Called by the loop thread with the directions an event reported ready.
    func signal(readable: Bool, writable: Bool) {
        let (reader, writer) = state.withLock { waiters in
            var reader: Waiter?
            var writer: Waiter?
            if readable {
                if let waiting = waiters.reader, waiting.isLive {
                    reader = waiting
                    waiters.reader = nil
                    // A shared wait may be finishing through another socket at this very moment; keep the
                    // edge so it is never lost (at worst the next wait retries the call once, needlessly).
                    if case .any = waiting { waiters.readReady = true }
                } else {
                    waiters.reader = nil
                    waiters.readReady = true
                }
            }
            if writable {
                if let waiting = waiters.writer, waiting.isLive {
                    writer = waiting
                    waiters.writer = nil
                    if case .any = waiting { waiters.writeReady = true }
                } else {
                    waiters.writer = nil
                    waiters.writeReady = true
                }
            }
            return (reader, writer)
        }
        reader?.resume(with: .success(()))
        writer?.resume(with: .success(()))
    }

    /// Marks the registration closed and wakes both waiters with `SocketError.closed`.
    func close() {
        let (reader, writer) = state.withLock { waiters in
            waiters.closed = true
            defer { waiters.reader = nil; waiters.writer = nil }
            return (waiters.reader, waiters.writer)
        }
        reader?.resume(with: .failure(SocketError.closed))
        writer?.resume(with: .failure(SocketError.closed))
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// The edges recorded while nobody waited (what the next wait in each direction consumes).
    var recordedReadiness: (read: Bool, write: Bool) { state.withLock { ($0.readReady, $0.writeReady) } }
}
