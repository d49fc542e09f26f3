import Glibc
import Synchronization

/// The readiness state of one file descriptor registered with the event loop, and the tasks waiting on it.
///
/// The descriptor is registered once, edge-triggered. An edge that arrives while nobody waits is remembered
/// in a per-direction flag, so a wake-up that lands between a syscall's `EAGAIN` and the task suspending is
/// never lost: `wait` consumes the flag and returns at once, and the caller retries the syscall.
final class IORegistration: Sendable {
    enum Direction: Sendable {
        case read, write
    }

    private struct Waiters {
        var readReady = false
        var writeReady = false
        var reader: CheckedContinuation<Void, any Error>?
        var writer: CheckedContinuation<Void, any Error>?
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
    func wait(for direction: Direction) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { waiters in
                    if waiters.closed { return .failure(SocketError.closed) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    switch direction {
                    case .read:
                        if waiters.readReady { waiters.readReady = false; return .success(()) }
                        if waiters.reader != nil { return .failure(SocketError.failed(operation: "read wait", errno: Errno(rawValue: EBUSY))) }
                        waiters.reader = continuation
                    case .write:
                        if waiters.writeReady { waiters.writeReady = false; return .success(()) }
                        if waiters.writer != nil { return .failure(SocketError.failed(operation: "write wait", errno: Errno(rawValue: EBUSY))) }
                        waiters.writer = continuation
                    }
                    return nil
                }
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
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Called by the loop thread with the directions an event reported ready.
    func signal(readable: Bool, writable: Bool) {
        let (reader, writer) = state.withLock { waiters in
            var reader: CheckedContinuation<Void, any Error>?
            var writer: CheckedContinuation<Void, any Error>?
            if readable {
                if let waiting = waiters.reader { reader = waiting; waiters.reader = nil } else { waiters.readReady = true }
            }
            if writable {
                if let waiting = waiters.writer { writer = waiting; waiters.writer = nil } else { waiters.writeReady = true }
            }
            return (reader, writer)
        }
        reader?.resume()
        writer?.resume()
    }

    /// Marks the registration closed and wakes both waiters with `SocketError.closed`.
    func close() {
        let (reader, writer) = state.withLock { waiters in
            waiters.closed = true
            defer { waiters.reader = nil; waiters.writer = nil }
            return (waiters.reader, waiters.writer)
        }
        reader?.resume(throwing: SocketError.closed)
        writer?.resume(throwing: SocketError.closed)
    }

    var isClosed: Bool { state.withLock { $0.closed } }
}
