import Foundation
import Glibc

/// A small leveled logger: a minimum level and a sink that receives each line.
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
    /// Receives every message at or above `level`.
    public var sink: @Sendable (Level, String) -> Void

    public init(level: Level, sink: @escaping @Sendable (Level, String) -> Void) {
        self.level = level
        self.sink = sink
    }

    /// Logs `message` (built only if `level` passes).
    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= self.level else { return }
        sink(level, message())
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    /// A logger that drops everything.
    public static let disabled = SOCKSLogger(level: .error) { _, _ in }

    /// Lines of the form `2026-11-21T17:47:10Z info message` on standard error.
    public static func standardError(level: Level) -> SOCKSLogger {
        SOCKSLogger(level: level) { level, message in
            let line = Array("\(Date.now.ISO8601Format()) \(level) \(message)\n".utf8)
            // One write(2) per line, so lines from concurrent sessions never interleave mid-line.
            _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        }
    }
}
