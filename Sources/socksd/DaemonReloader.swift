import AsyncSockets
import SOCKSServer

/// What SIGHUP does: re-read the configuration (the file, the users file, the password file), check all of
/// it, and only then hand it to the server, which swaps it whole for new sessions; on any problem the
/// daemon logs every one and goes on with what it had. The log file is reopened either way (logrotate
/// sends SIGHUP after it renames the file). systemd hears RELOADING=1 before and READY=1 after.
///
/// An actor: reloads never overlap, and `running` (what the last good reload installed) has one owner.
actor DaemonReloader {
    let options: CommandLineOptions
    let server: SOCKSServer
    let logger: SOCKSLogger
    let notifier: SystemdNotifier
    /// The settings in force: those the daemon started with, or the last good reload's.
    private var running: DaemonSettings

    /// The drain time of an upgrade in force (`--drain-timeout`, `timeouts.drain`).
    var drainTimeout: Duration { running.drainTimeout }

    init(options: CommandLineOptions, server: SOCKSServer, logger: SOCKSLogger, notifier: SystemdNotifier, running: DaemonSettings) {
        self.options = options
        self.server = server
        self.logger = logger
        self.notifier = notifier
        self.running = running
    }

    func reload() async {
        notifier.reloading()
        defer {
            notifier.ready()
            notifier.status("\(server.metrics.activeSessions) session(s) open")
        }
        do {
            try logger.reopen()
        } catch {
            logger.error("reload: \(error); logging goes on to the file as it was")
        }
        var settings: DaemonSettings
        do {
            settings = try await DaemonSetup.load(options)
        } catch {
            for problem in error.problems { logger.error("reload: \(problem)") }
            refuse("\(error.problems.count) problem(s) in the configuration")
            return
        }
        for warning in settings.warnings { logger.warning("reload: \(warning)") }
        if settings.logFile != running.logFile || settings.logFormat != running.logFormat {
            logger.warning("reload: a new log file or format takes effect at the next start; logging goes on as before")
        }
        if settings.metricsListen != running.metricsListen {
            logger.warning("reload: a new metrics address takes effect at the next start; metrics stay where they are")
        }
        settings.server.logger = logger
        let outcome: SOCKSServer.ReloadOutcome
        do {
            outcome = try await server.reload(settings.server, endingSessionsOfRemovedUsers: settings.endSessionsOfRemovedUsers)
        } catch {
            // The server counted its own refusal.
            refuse("\(error)", counted: true)
            return
        }
        logger.setLevel(settings.logLevel)
        SharedEventLoops.spinMicroseconds = settings.spinMicroseconds
        running = settings
        var changes: [String] = []
        if !outcome.opened.isEmpty { changes.append("now also listening on \(outcome.opened.map(\.description).joined(separator: ", "))") }
        if !outcome.closed.isEmpty { changes.append("no longer listening on \(outcome.closed.map(\.description).joined(separator: ", "))") }
        if outcome.endedSessions > 0 { changes.append("ended \(outcome.endedSessions) session(s) of removed users") }
        logger.info("configuration reloaded; new sessions use it, open ones go on" + (changes.isEmpty ? "" : "; " + changes.joined(separator: "; ")))
    }

    /// Logs a refused reload, and counts it unless the server already did (`SOCKSServer.reload` counts
    /// what it refuses; a settings file that does not load never reaches it).
    private func refuse(_ reason: String, counted: Bool = false) {
        if !counted { server.metrics.recordReload(succeeded: false) }
        logger.error("reload failed: \(reason); carrying on with the previous configuration")
    }
}
