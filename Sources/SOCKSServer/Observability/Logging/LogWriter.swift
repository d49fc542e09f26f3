import Dispatch
import Foundation
import Glibc
import Synchronization

/// Writes log lines to a file descriptor from a thread of its own, through a bounded queue, so that logging
/// never blocks the caller: an event loop that logs while standard error is a full pipe (a stalled
/// journald, a terminal on hold) carries on serving.
///
/// When the queue is full, new lines are dropped and counted; once the writer can write again it reports
/// `N log lines dropped` after the lines it held. Each line is formatted (`LogLineFormatter`: text or JSON,
/// with or without journald's priority prefixes) on the writer's thread, and its message escaped there as
/// well: `SOCKSLogger` has escaped it already, and escaping twice changes nothing, but a line given to
/// `write` directly is made safe too.
///
/// A writer made with `init(fileDescriptor:…)` never closes that descriptor. A writer made with
/// `init(path:…)` owns its file: `reopen()` switches to a fresh open of the path (for logrotate), and the
/// file is closed when the writer is.
package final class LogWriter: Sendable {
    /// The writer behind `SOCKSLogger.standardError(level:)`.
    package static let standardError = LogWriter(fileDescriptor: 2)

    private struct Entry {
        let time: Date
        let level: SOCKSLogger.Level
        let content: LogLineFormatter.Content
    }

    /// What waits for the writer thread, in the order it was asked for.
    private enum Item {
        case line(Entry)
        /// From here on, write to this descriptor (a new open of `path`) and close the one before.
        case switchTo(Int32)
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
        var entries: [Item] = []
        /// Lines dropped since the last report.
        var unreported = 0
        var state = ThreadState.writing
    }

    /// How many lines may wait for the writer; past that, lines are dropped.
    package let capacity: Int
    /// How lines are written.
    package let format: LogFormat
    /// Lines start with a syslog priority (`<6>`) instead of a timestamp, for journald.
    package let priorityPrefixes: Bool
    /// The file this writer opened and reopens; `nil` for a writer on a descriptor it was given.
    package let path: String?
    private let formatter: LogLineFormatter
    /// The descriptor the thread starts with; the thread alone knows the current one (after reopens).
    private let initialDescriptor: Int32
    /// Whether the thread closes its descriptor when it switches or ends (a file it opened).
    private let ownsDescriptor: Bool
    private let queue = Mutex(Queue())
    /// Signalled exactly once per move out of `.waiting`, so the thread's one wait per park always matches.
    private let wake = DispatchSemaphore(value: 0)
    private let dropped = Atomic<Int>(0)

    /// Starts the writer thread for `fileDescriptor` (which stays open and is never closed by the writer).
    ///
    /// - Parameters:
    ///   - fileDescriptor: where the lines go.
    ///   - capacity: how many lines may wait; the default bounds the queue to about a megabyte.
    ///   - format: text (the default) or JSON lines.
    ///   - priorityPrefixes: write journald's `<N>` priority prefix instead of a timestamp (see
    ///     `SOCKSLogger.make`, which decides this from `JOURNAL_STREAM`).
    package convenience init(fileDescriptor: Int32, capacity: Int = 4096, format: LogFormat = .text, priorityPrefixes: Bool = false) {
        self.init(descriptor: fileDescriptor, owned: false, path: nil, capacity: capacity, format: format, priorityPrefixes: priorityPrefixes)
    }

    /// Opens `path` for append (`O_APPEND`, created with mode 0640 less the umask if missing) and starts the
    /// writer thread for it. Lines go out in whole-line batches, each at the end of the file as it is then
    /// (`O_APPEND`), so lines another process appends are not overwritten.
    ///
    /// - Throws: `LogFileError` when the file cannot be opened.
    package convenience init(path: String, capacity: Int = 4096, format: LogFormat = .text) throws {
        let descriptor = try Self.open(path)
        self.init(descriptor: descriptor, owned: true, path: path, capacity: capacity, format: format, priorityPrefixes: false)
    }

    private init(descriptor: Int32, owned: Bool, path: String?, capacity: Int, format: LogFormat, priorityPrefixes: Bool) {
        self.initialDescriptor = descriptor
        self.ownsDescriptor = owned
        self.path = path
        self.capacity = max(1, capacity)
        self.format = format
        self.priorityPrefixes = priorityPrefixes
        self.formatter = LogLineFormatter(format: format, priorityPrefixes: priorityPrefixes)
        // A plain thread, not the cooperative pool or an event loop: it may block in write(2) for as long
        // as the reader of the descriptor stalls, and nothing else waits for it.
        let thread = Thread { [self] in run() }
        thread.name = "socksd-log"
        thread.start()
    }

    /// Lines dropped because the queue was full (or the descriptor failed), since the start.
    package var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues one line; never waits for the descriptor. Dropped (and counted) when the queue is full.
    package func write(level: SOCKSLogger.Level, message: String) {
        enqueue(Entry(time: Date(), level: level, content: .message(message)))
    }

    /// Queues one event's line (the access line); never waits. Dropped (and counted) when the queue is full.
    package func write(level: SOCKSLogger.Level, event: LogEvent) {
        enqueue(Entry(time: Date(), level: level, content: .event(event)))
    }

    private func enqueue(_ entry: Entry) {
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
                queue.entries.append(.line(entry))
                guard case .waiting = queue.state else { return false }
                queue.state = .writing
                return true
            }
        }
        if wakeThread { wake.signal() }
    }

    /// Opens `path` again and moves the writer to the new file, for logrotate: after the old file was
    /// renamed, lines queued before this call still go to it (they are already on their way), every line
    /// queued after goes to the new file, and none is lost or written twice. The old file is closed once its
    /// lines are written; `flush` waits for that too. Does nothing for a writer on a descriptor it was given
    /// (standard error) or one that was closed.
    ///
    /// - Throws: `LogFileError` when the path cannot be opened; the writer then keeps the file it has.
    package func reopen() throws {
        guard let path else { return }
        let descriptor = try Self.open(path)
        let (accepted, wakeThread) = queue.withLock { queue -> (Bool, Bool) in
            switch queue.state {
            case .closing, .closed:
                return (false, false)
            case .waiting, .writing:
                // Past the capacity too: the switch is not a line, and dropping it would leak the descriptor
                // and leave the writer on the renamed file.
                queue.entries.append(.switchTo(descriptor))
                guard case .waiting = queue.state else { return (true, false) }
                queue.state = .writing
                return (true, true)
            }
        }
        if !accepted { Glibc.close(descriptor) }
        if wakeThread { wake.signal() }
    }

    private static func open(_ path: String) throws(LogFileError) -> Int32 {
        // O_CLOEXEC: a program the daemon starts must not inherit (and hold open) the log file.
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw LogFileError(path: path, errorNumber: errno) }
        return descriptor
    }

    /// Waits until every line queued so far is written (or reported dropped), for at most `timeout`: what
    /// a process does before it exits. Returns whether the queue was written in time.
    @discardableResult
    package func flush(timeout: Duration) -> Bool {
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
    package func close(timeout: Duration) -> Bool {
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
        case write([Item], dropped: Int)
        case park
        case end
    }

    private func run() {
        // Only this thread writes, so only it needs to know which descriptor is current.
        var descriptor = initialDescriptor
        defer { if ownsDescriptor { Glibc.close(descriptor) } }
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
            case .write(let items, let droppedCount):
                write(items, droppedSinceLastReport: droppedCount, descriptor: &descriptor)
            case .park:
                wake.wait()
            case .end:
                return
            }
        }
    }

    private func write(_ items: [Item], droppedSinceLastReport: Int, descriptor: inout Int32) {
        var bytes: [UInt8] = []
        var linesInBuffer = 0
        for item in items {
            switch item {
            case .line(let entry):
                formatter.append(time: entry.time, level: entry.level, content: entry.content, to: &bytes)
                linesInBuffer += 1
                // Written in pieces of about 64 KiB: a burst of queued lines never needs one large buffer.
                if bytes.count >= 64 * 1024 {
                    writeOut(bytes, lines: linesInBuffer, to: descriptor)
                    bytes.removeAll(keepingCapacity: true)
                    linesInBuffer = 0
                }
            case .switchTo(let next):
                // Everything queued before the switch belongs to the old file.
                writeOut(bytes, lines: linesInBuffer, to: descriptor)
                bytes.removeAll(keepingCapacity: true)
                linesInBuffer = 0
                if ownsDescriptor { Glibc.close(descriptor) }
                descriptor = next
            }
        }
        if droppedSinceLastReport > 0 {
            let report = "\(droppedSinceLastReport) log lines dropped: the log output could not keep up"
            formatter.append(time: Date(), level: .warning, content: .message(report), to: &bytes)
        }
        writeOut(bytes, lines: linesInBuffer, to: descriptor)
    }

    /// Writes all of `bytes`; what cannot be written (the descriptor failed) counts as dropped.
    private func writeOut(_ bytes: [UInt8], lines: Int, to descriptor: Int32) {
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
