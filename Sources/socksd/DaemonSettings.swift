import AsyncSockets
import SOCKSServer

/// What the daemon runs with, from the command line and the configuration file together: the server's
/// configuration, and the settings only the daemon uses. Made by `DaemonSetup.load`, whole, at start and
/// again on every reload.
struct DaemonSettings: Sendable {
    /// The daemon's spin: a short poll before sleeping saves a sleep and a wake-up per reply on a virtual
    /// machine, and backs off on a host without idle cores (`SpinPolicy`).
    static let defaultSpinMicroseconds = 50

    /// The server's configuration. Its `logger` writes to standard error at `logLevel`.
    var server: SOCKSServer.Configuration
    /// `--log-level`, `log.level`. Default: info.
    var logLevel: SOCKSLogger.Level
    /// `--log-file`, `log.file`: the file to append the log to, or `nil` for standard error.
    var logFile: String?
    /// `--log-format`, `log.format` (the library's `LogFormat`). Default: text.
    var logFormat: LogFormat
    /// `--metrics-listen`, `metrics.listen`, resolved: where to serve Prometheus metrics; empty for none.
    var metricsListen: [SocketAddress]
    /// `reload.endSessionsOfRemovedUsers`: whether a reload that removes a user ends that user's open
    /// sessions. Default: false, they run to their end.
    var endSessionsOfRemovedUsers: Bool
    /// `--spin-microseconds`, `performance.spinMicroseconds`: how long a busy event loop polls before it
    /// sleeps. Default: `defaultSpinMicroseconds` (the library's own default is no spin).
    var spinMicroseconds: Int
    /// `--drain-timeout`, `timeouts.drain`: after an upgrade (SIGUSR2), how long the old process serves its
    /// open sessions before it cancels them. Default: an hour (SIGTERM keeps the server's 5 s).
    var drainTimeout: Duration
    /// What the operator should hear before the server starts (secrets on the command line).
    var warnings: [String]
}
