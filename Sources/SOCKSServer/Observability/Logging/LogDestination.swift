/// Where a logger made by `SOCKSLogger.make(level:format:destination:environment:)` writes.
package enum LogDestination: Sendable, Equatable {
    /// Standard error, which the process shares and never closes. Under journald (`JOURNAL_STREAM` names
    /// standard error) lines carry syslog priority prefixes instead of timestamps.
    case standardError
    /// A file at this path, opened for append (created with mode 0640 if missing) and reopened by
    /// `SOCKSLogger.reopen()`, for logrotate.
    case file(String)
}
