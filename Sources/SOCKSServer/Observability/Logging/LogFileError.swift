import Glibc

/// A log file that could not be opened (at start, or when reopened for logrotate).
package struct LogFileError: Error, Sendable, CustomStringConvertible {
    /// The file's path, as given.
    package let path: String
    /// `errno` from open(2).
    let errorNumber: Int32

    package var description: String {
        let reason = strerror(errorNumber).map { String(cString: $0) } ?? "errno \(errorNumber)"
        return "cannot open log file '\(path)': \(reason)"
    }
}
