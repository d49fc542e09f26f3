import Foundation
import Synchronization

/// A small leveled logger: a minimum level and a sink that receives each line.
///
/// Copies share their level: `setLevel(_:)` on any copy (a reload does it on the daemon's) changes it for
/// every session that logs through the logger, without making a new one.
///
/// Every message reaches the sink escaped: client-supplied text in it (a username, a domain name) cannot
/// break it into two lines or carry terminal escapes, whatever the call site. An event (the access line)
/// is a line with fields, which the daemon's writer formats as text or JSON and a sink of your own
/// receives as text.
///
/// The server never logs passwords: credentials reach the logger only through `SOCKSCredentials`, whose
/// description redacts them.
public struct SOCKSLogger: Sendable {
    /// Severity, from chatty to grave.
    public enum Level: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
        case debug, info, warning, error

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }

        /// Parses `debug`, `info`, `warning` or `error`.
        package init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.description == name }) else { return nil }
            self = level
        }
    }

    /// The level every copy of this logger reads; a class so that copies share it, an atomic so that event
    /// loops read it while a reload sets it.
    private final class SharedLevel: Sendable {
        private let rawValue: Atomic<Int>

        init(_ level: Level) { rawValue = Atomic(level.rawValue) }

        var level: Level {
            get { Level(rawValue: rawValue.load(ordering: .relaxed)) ?? .info }
            set { rawValue.store(newValue.rawValue, ordering: .relaxed) }
        }
    }

    private let sharedLevel: SharedLevel
    /// Receives every message at or above `level`, already escaped (one line, printable), and the `text` of
    /// every event when there is no writer.
    package let sink: @Sendable (Level, String) -> Void
    /// The writer behind a standard sink (`nil` for a custom sink): its format, its dropped-line count, its
    /// flush and its reopen.
    package let writer: LogWriter?

    /// A logger with a sink of your own. Messages arrive escaped, events as their text form; the sink should
    /// not block for long, since sessions log from their event loops.
    public init(level: Level, sink: @escaping @Sendable (Level, String) -> Void) {
        self.sharedLevel = SharedLevel(level)
        self.sink = sink
        self.writer = nil
    }

    /// A logger whose lines go to `writer`, which never blocks the caller.
    package init(level: Level, writer: LogWriter) {
        self.sharedLevel = SharedLevel(level)
        self.sink = { level, message in writer.write(level: level, message: message) }
        self.writer = writer
    }

    /// Messages below this level are dropped without being built.
    public var level: Level { sharedLevel.level }

    /// Changes the level of this logger and every copy of it, at once: messages logged from now on are
    /// measured against `level`.
    public func setLevel(_ level: Level) {
        sharedLevel.level = level
    }

    /// Logs `message` (built only if `level` passes), escaped.
    package func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= self.level else { return }
        sink(level, Self.escapingNonPrintable(message()))
    }

    /// Logs `event` (built only if `level` passes): its fields become JSON members when the writer writes
    /// JSON, and its `text` otherwise (or for a custom sink).
    package func log(_ level: Level, _ event: @autoclosure () -> LogEvent) {
        guard level >= self.level else { return }
        if let writer {
            writer.write(level: level, event: event())
        } else {
            sink(level, Self.escapingNonPrintable(event().text))
        }
    }

    /// Lines the writer dropped because its output could not keep up (0 for a custom sink).
    public var droppedLines: Int { writer?.droppedLines ?? 0 }

    /// Waits, at most `timeout`, until the writer has written every line logged so far: call it before the
    /// process exits. Returns whether it did (always `true` for a custom sink).
    @discardableResult
    public func flush(timeout: Duration = .seconds(2)) -> Bool {
        writer?.flush(timeout: timeout) ?? true
    }

    /// Opens the log file again after logrotate renamed it (see `LogWriter.reopen()`); does nothing for
    /// standard error or a custom sink.
    ///
    /// - Throws: `LogFileError` when the file cannot be opened; lines keep going to the old file.
    package func reopen() throws {
        try writer?.reopen()
    }

    package func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    package func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    package func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    package func error(_ message: @autoclosure () -> String) { log(.error, message()) }
    /// Logs `event` at info level: the access line.
    package func info(_ event: @autoclosure () -> LogEvent) { log(.info, event()) }

    /// A logger that drops everything.
    public static let disabled = SOCKSLogger(level: .error) { _, _ in }

    /// Lines of the form `2026-11-21T17:47:10Z info message` on standard error, through a queue of their
    /// own: logging never waits for standard error, lines that do not fit the queue are dropped and counted.
    public static func standardError(level: Level) -> SOCKSLogger {
        SOCKSLogger(level: level, writer: .standardError)
    }

    /// The daemon's logger: `format` lines to `destination`.
    ///
    /// - Standard error, text, not journald: the shared `LogWriter.standardError`, as `standardError(level:)`.
    /// - Standard error under journald (`environment["JOURNAL_STREAM"]` names the device and inode of
    ///   descriptor 2): lines start with a syslog priority (`<6>`) and carry no timestamp, in either format
    ///   (see `LogLineFormatter`).
    /// - A file: opened for append, created with mode 0640; `reopen()` opens it again for logrotate.
    ///
    /// Every call but the first case starts a writer thread of its own: make the logger once and change its
    /// level with `setLevel(_:)`.
    ///
    /// - Parameters:
    ///   - destination: standard error, standard output or a file.
    ///   - level: the least severe level written.
    ///   - format: text or JSON lines.
    ///   - environment: the process's environment (`ProcessInfo.processInfo.environment`), which the
    ///     caller passes: the library reads none itself.
    /// - Throws: `LogFileError` when the file cannot be opened.
    package static func make(
        level: Level, format: LogFormat, destination: LogDestination, environment: [String: String]
    ) throws -> SOCKSLogger {
        switch destination {
        case .standardError:
            let journal = JournalStream.matches(descriptor: 2, environment: environment)
            if format == .text && !journal { return standardError(level: level) }
            return SOCKSLogger(level: level, writer: LogWriter(fileDescriptor: 2, format: format, priorityPrefixes: journal))
        case .file(let path):
            return SOCKSLogger(level: level, writer: try LogWriter(path: path, format: format))
        }
    }
}
