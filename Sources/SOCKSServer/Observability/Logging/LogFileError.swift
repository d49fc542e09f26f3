import Glibc

/// A log file that could not be opened (at start, or when reopened for logrotate).
public struct LogFileError: Error, Sendable, CustomStringConvertible {
    /// The file's path, as given.
    public let path: String
    /// `errno` from open(2).
    public let errorNumber: Int32

    public var description: String {
        let reason = strerror(errorNumber).map { String(cString: $0) } ?? "errno \(errorNumber)"
        return "cannot open log file '\(path)': \(reason)"
    }
}
