import Dispatch
import Foundation
import Glibc
import Synchronization

/// Writes log lines to a file descriptor from a thread of its own, through a bounded queue, so that logging
/// never blocks the caller: an event loop that logs while standard error is a full pipe (a stalled
/// journald, a terminal on hold) carries on serving.
///
/// When the queue is full, new lines are dropped and counted; once the writer can write again it reports
/// `N log lines dropped` after the lines it held. Each line is formatted (`2026-11-21T17:47:10Z info
/// message`) on the writer's thread, and its message escaped there as well: `SOCKSLogger` has escaped it
/// already, and escaping twice changes nothing, but a line given to `write` directly is made safe too. The
/// descriptor is never closed here.
public final class LogWriter: Sendable {
    /// The writer behind `SOCKSLogger.standardError(level:)`.
    public static let standardError = LogWriter(fileDescriptor: 2)

    private struct Entry {
        let time: Date
        let level: SOCKSLogger.Level
        let message: String
    }

    /// The writer thread's life.
    private enum ThreadState {
        /// Parked on `wake` with nothing queued; the next line wakes it.
        case waiting
        /// Writing, or about to look at the queue again.
        case writing
        /// `close` was called: the thread writes what is queued, then ends. New lines are refused.
        case closing
        /// The thread has ended.
        case closed
    }

    private struct Queue {
        var entries: [Entry] = []
        /// Lines dropped since the last report.
        var unreported = 0
        var state = ThreadState.writing
    }

    /// How many lines may wait for the writer; past that, lines are dropped.
    public let capacity: Int
    private let descriptor: Int32
    private let queue = Mutex(Queue())
    /// Signalled exactly once per move out of `.waiting`, so the thread's one wait per park always matches.
    private let wake = DispatchSemaphore(value: 0)
    private let dropped = Atomic<Int>(0)

    /// Starts the writer thread for `fileDescriptor` (which stays open and is never closed by the writer).
    ///
    /// - Parameter capacity: how many lines may wait; the default bounds the queue to about a megabyte.
    public init(fileDescriptor: Int32, capacity: Int = 4096) {
        self.descriptor = fileDescriptor
        self.capacity = max(1, capacity)
        // A plain thread, not the cooperative pool or an event loop: it may block in write(2) for as long
        // as the reader of the descriptor stalls, and nothing else waits for it.
        let thread = Thread { [self] in run() }
        thread.name = "socksd-log"
        thread.start()
    }

    /// Lines dropped because the queue was full (or the descriptor failed), since the start.
    public var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues one line; never waits for the descriptor. Dropped (and counted) when the queue is full.
    public func write(level: SOCKSLogger.Level, message: String) {
        let entry = Entry(time: Date(), level: level, message: message)
        let wakeThread = queue.withLock { queue -> Bool in
            switch queue.state {
            case .closing, .closed:
                return false
            case .waiting, .writing:
                guard queue.entries.count < capacity else {
                    queue.unreported += 1
                    dropped.add(1, ordering: .relaxed)
                    return false
                }
                queue.entries.append(entry)
                guard case .waiting = queue.state else { return false }
                queue.state = .writing
                return true
            }
        }
        if wakeThread { wake.signal() }
    }

    /// Waits until every line queued so far is written (or reported dropped), for at most `timeout`: what
    /// a process does before it exits. Returns whether the queue was written in time.
    @discardableResult
    public func flush(timeout: Duration) -> Bool {
        waitUntil(timeout: timeout) { state in
            switch state {
            case .waiting, .closed: true
            case .writing, .closing: false
            }
        }
    }

    /// Writes what is queued (for at most `timeout`), then ends the writer thread; later lines are ignored.
    /// Returns whether the thread ended in time.
    @discardableResult
    public func close(timeout: Duration) -> Bool {
        let wakeThread = queue.withLock { queue -> Bool in
            switch queue.state {
            case .waiting:
                queue.state = .closing
                return true
            case .writing:
                queue.state = .closing
                return false
            case .closing, .closed:
                return false
            }
        }
        if wakeThread { wake.signal() }
        return waitUntil(timeout: timeout) { state in
            switch state {
            case .closed: true
            case .waiting, .writing, .closing: false
            }
        }
    }

    /// Polls: only flush and close wait (at exit, in tests), and a millisecond is nothing next to a stalled
    /// reader; the writer's hot path stays a semaphore.
    private func waitUntil(timeout: Duration, _ done: (ThreadState) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if done(queue.withLock({ $0.state })) { return true }
            guard ContinuousClock.now < deadline else { return false }
            usleep(1000)
        }
    }

    private enum Step {
        case write([Entry], dropped: Int)
        case park
        case end
    }

    private func run() {
        while true {
            let step = queue.withLock { queue -> Step in
                if !queue.entries.isEmpty || queue.unreported > 0 {
                    defer { queue.entries.removeAll(); queue.unreported = 0 }
                    return .write(queue.entries, dropped: queue.unreported)
                }
                switch queue.state {
                case .writing:
                    queue.state = .waiting
                    return .park
                case .closing:
                    queue.state = .closed
                    return .end
                case .waiting, .closed:
                    // Not reached: only this thread parks or ends, and it is awake.
                    return .end
                }
            }
            switch step {
            case .write(let entries, let droppedCount):
                write(entries, droppedSinceLastReport: droppedCount)
            case .park:
                wake.wait()
            case .end:
                return
            }
        }
    }

    private func write(_ entries: [Entry], droppedSinceLastReport: Int) {
        var bytes: [UInt8] = []
        var linesInBuffer = 0
        for entry in entries {
            let message = SOCKSLogger.escapingNonPrintable(entry.message)
            bytes.append(contentsOf: "\(entry.time.ISO8601Format()) \(entry.level) \(message)\n".utf8)
            linesInBuffer += 1
            // Written in pieces of about 64 KiB: a burst of queued lines never needs one large buffer.
            if bytes.count >= 64 * 1024 {
                writeOut(bytes, lines: linesInBuffer)
                bytes.removeAll(keepingCapacity: true)
                linesInBuffer = 0
            }
        }
        if droppedSinceLastReport > 0 {
            let report = "\(SOCKSLogger.Level.warning) \(droppedSinceLastReport) log lines dropped: the log output could not keep up"
            bytes.append(contentsOf: "\(Date().ISO8601Format()) \(report)\n".utf8)
        }
        writeOut(bytes, lines: linesInBuffer)
    }

    /// Writes all of `bytes`; what cannot be written (the descriptor failed) counts as dropped.
    private func writeOut(_ bytes: [UInt8], lines: Int) {
        guard !bytes.isEmpty else { return }
        let complete = bytes.withUnsafeBytes { raw -> Bool in
            // `raw` is valid for this closure only; every pointer below is derived from it and not kept.
            guard let base = raw.baseAddress else { return true }
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, base + offset, raw.count - offset)
                if written >= 0 {
                    offset += written
                    continue
                }
                switch errno {
                case EINTR:
                    continue
                case EAGAIN, EWOULDBLOCK:
                    // A nonblocking descriptor (shared with a parent that set O_NONBLOCK): wait until writable.
                    var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&poller, 1, -1)
                default:
                    return false
                }
            }
            return true
        }
        if !complete { dropped.add(lines, ordering: .relaxed) }
    }
}
