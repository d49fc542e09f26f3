/// A small leveled logger: a minimum level and a sink that receives each line.
///
/// Every message reaches the sink escaped (`escapingNonPrintable`): client-supplied text in it (a username,
/// a domain name) cannot break it into two lines or carry terminal escapes, whatever the call site.
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
        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.description == name }) else { return nil }
            self = level
        }
    }

    /// Messages below this level are dropped without being built.
    public var level: Level
    /// Receives every message at or above `level`, already escaped (one line, printable).
    public var sink: @Sendable (Level, String) -> Void
    /// The writer behind a standard sink (`nil` for a custom sink): its dropped-line count and its flush.
    public let writer: LogWriter?

    /// A logger with a sink of your own. Messages arrive escaped; the sink should not block for long, since
    /// sessions log from their event loops.
    public init(level: Level, sink: @escaping @Sendable (Level, String) -> Void) {
        self.level = level
        self.sink = sink
        self.writer = nil
    }

    /// A logger whose lines go to `writer`, which never blocks the caller.
    public init(level: Level, writer: LogWriter) {
        self.level = level
        self.sink = { level, message in writer.write(level: level, message: message) }
        self.writer = writer
    }

    /// Logs `message` (built only if `level` passes), escaped.
    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= self.level else { return }
        sink(level, Self.escapingNonPrintable(message()))
    }

    /// Lines the writer dropped because its output could not keep up (0 for a custom sink).
    public var droppedLines: Int { writer?.droppedLines ?? 0 }

    /// Waits, at most `timeout`, until the writer has written every line logged so far: call it before the
    /// process exits. Returns whether it did (always `true` for a custom sink).
    @discardableResult
    public func flush(timeout: Duration = .seconds(2)) -> Bool {
        writer?.flush(timeout: timeout) ?? true
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    /// A logger that drops everything.
    public static let disabled = SOCKSLogger(level: .error) { _, _ in }

    /// Lines of the form `2026-11-21T17:47:10Z info message` on standard error, through
    /// `LogWriter.standardError`: logging never waits for standard error, lines that do not fit its queue
    /// are dropped and counted.
    public static func standardError(level: Level) -> SOCKSLogger {
        SOCKSLogger(level: level, writer: .standardError)
    }
}
