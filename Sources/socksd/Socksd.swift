import AsyncSockets
import Dispatch
import Foundation
import Glibc
import SOCKSServer

/// The daemon's entry point. Exit codes: 0 after a clean shutdown; 64 (EX_USAGE) for a bad command line, a
/// configuration that cannot be used, or an open proxy not asked for; 1 when it cannot start (a port in
/// use, an unreadable users file, any configuration problem that comes from the system).
@main
enum Socksd {
    static func main() async {
        // Writes to a closed socket report EPIPE through MSG_NOSIGNAL, and a standard error whose reader has
        // gone reports it too: SIGPIPE must never kill the daemon, not even while it reads its command line.
        signal(SIGPIPE, SIG_IGN)
        let options: CommandLineOptions
        do {
            options = try CommandLineOptions(arguments: Array(CommandLine.arguments.dropFirst()))
        } catch {
            exitWithUsage(error)
        }
        switch options.mode {
        case .help:
            print(CommandLineOptions.usage)
            exit(0)
        case .version:
            print("socksd \(CommandLineOptions.version)")
            exit(0)
        case .checkConfig:
            exit(await ConfigurationCheck.run(options))
        case .serve:
            break
        }

        DaemonSignal.ignoreUntilHandled()
        let executable = Self.executablePath()
        let inherited: InheritedSockets
        let passed: PassedListeners
        do {
            inherited = try InheritedSockets(environment: ProcessInfo.processInfo.environment)
            passed = try inherited.listeners()
        } catch {
            printError("\(error)")
            exit(64)
        }

        var settings: DaemonSettings
        do {
            settings = try await DaemonSetup.load(options)
        } catch {
            exitWithProblems(error)
        }
        for warning in settings.warnings { printError("warning: \(warning)") }
        // One logger for the daemon's life: a reload changes its level and reopens its file, never swaps it.
        let logger: SOCKSLogger
        do {
            logger = try SOCKSLogger.make(
                level: settings.logLevel, format: settings.logFormat, destination: settings.logFile.map { .file($0) } ?? .standardError,
                environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("\(error)")
            exit(1)
        }
        settings.server.logger = logger
        // The daemon's loops are the library's shared ones (every socket and timer of the process uses
        // them), with the daemon's spin.
        SharedEventLoops.spinMicroseconds = settings.spinMicroseconds
        let server: SOCKSServer
        let metricsEndpoints: [MetricsEndpoint]
        do {
            server = try SOCKSServer(configuration: settings.server, passed: passed)
            metricsEndpoints = try settings.metricsListen.map { address in
                try MetricsEndpoint(bindingTo: address, server: server, version: CommandLineOptions.version, passed: passed)
            }
        } catch SOCKSServerError.openProxy(let addresses) {
            printError(
                "refusing to start an open proxy on \(addresses.map(\.description).joined(separator: ", ")): with no users and no "
                    + "--allow-from, anyone who can reach it may use it. Require a login (--user NAME:PASSWORD or --users-file FILE), "
                    + "or say who may connect (--allow-from CIDR); or pass --allow-open-proxy if an open proxy is what you mean.")
            exit(64)
        } catch let error as SocketError {
            printError("cannot listen: \(error)")
            exit(1)
        } catch {
            printError("\(error)")
            exit(1)
        }

        let unclaimed = passed.unclaimed
        if !unclaimed.isEmpty {
            passed.releaseUnclaimed()
            printError(
                "passed listening socket(s) \(unclaimed.map(\.description).joined(separator: ", ")) match no configured listener or "
                    + "metrics address: listen on them (--listen, listeners, --metrics-listen) or stop passing them")
            exit(64)
        }

        // Under systemd (Type=notify) NOTIFY_SOCKET names its socket; without it every call does nothing.
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        // Reloads run one at a time, in order, on a task of their own (a signal handler must not wait).
        let (reloadRequests, reloadTrigger) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let reloader = DaemonReloader(options: options, server: server, logger: logger, notifier: notifier, running: settings)
        let reloads = Task {
            for await _ in reloadRequests { await reloader.reload() }
        }
        defer { reloads.cancel() }
        let upgrade = DaemonUpgrade(
            executable: executable, arguments: CommandLine.arguments, server: server, metricsEndpoints: metricsEndpoints, logger: logger,
            drainTimeout: { await reloader.drainTimeout })
        let signalSources = await DaemonSignal.handleAll { signal in
            switch signal.request {
            case .shutDown:
                // After an upgrade the new process is the service: its STOPPING=1 is the one systemd hears.
                if !upgrade.hasHandedOver { notifier.stopping() }
                server.shutdown()
            case .reload:
                logger.info("received \(signal): reloading the configuration")
                reloadTrigger.yield()
            case .sessionSummary:
                let lines = server.openSessionSummary()
                logger.info("received \(signal): \(lines.count) open session(s)")
                for line in lines { logger.info(line) }
            case .upgrade:
                // Not awaited: a second SIGUSR2 must reach the upgrade while the first is under way (and be
                // ignored there).
                Task { await upgrade.request(signal) }
            }
        }
        defer { signalSources.forEach { $0.cancel() } }

        let proxyProtocolAddresses = server.proxyProtocolAddresses
        for address in server.localAddresses {
            printLine("listening on \(address)" + (proxyProtocolAddresses.contains(address) ? " (PROXY protocol)" : ""))
        }
        for endpoint in metricsEndpoints {
            printLine("metrics on \(endpoint.localAddress)")
        }
        let metricsTasks = metricsEndpoints.map { endpoint in Task { await endpoint.run() } }
        // Every listener is bound (they were bound when the server was made) and every signal is handled.
        if inherited.readyDescriptor != nil {
            // The new process of an upgrade: systemd (NotifyAccess=all) follows it as the main process, and
            // the old one hears that it listens.
            notifier.notify("READY=1\nMAINPID=\(getpid())")
            inherited.announceReady()
        } else {
            notifier.ready()
        }
        let statusReports = Task {
            while !Task.isCancelled {
                if upgrade.hasHandedOver { return }
                notifier.status("\(server.metrics.activeSessions) session(s) open")
                try? await Task.sleep(for: .seconds(10))
            }
        }
        defer { statusReports.cancel() }
        let memoryReturn = Task {
            await MemoryReturn.run(openSessions: { server.metrics.activeSessions }) { peak, open in
                logger.info("open sessions fell from \(peak) to \(open): freed memory given back to the system")
            }
        }
        defer { memoryReturn.cancel() }
        if let upstream = server.configuration.upstream {
            server.configuration.logger.info("forwarding through \(upstream.redactedURL), UDP by \(upstream.udpTransport)")
        }
        if let users = server.configuration.users {
            let pam = users.pam.map { ", others through PAM service \($0.name)" } ?? ""
            server.configuration.logger.info("authentication required: \(users.count) user(s)\(pam)")
        }
        if let gssapi = server.configuration.gssapi {
            server.configuration.logger.info(
                "GSS-API logins: service \(gssapi.service), keytab \(gssapi.keytab), least protection \(gssapi.minimumProtection)")
        }
        do {
            try await server.run()
        } catch {
            logger.flush()
            printError("\(error)")
            exit(1)
        }
        // /healthz answered 503 while the server drained; now the endpoints go too.
        metricsEndpoints.forEach { $0.close() }
        for task in metricsTasks { await task.value }
        logger.info("stopped")
        // The log is written by a thread of its own: give it the last lines before the process ends.
        logger.flush()
    }

    /// The path this process was started from, read at start: an upgrade starts whatever is installed there
    /// then. `argv[0]` when it is a path (made absolute: the working directory may change), so that a
    /// symbolic link an install moves is followed; otherwise (a name found in `PATH`) the file itself, by
    /// `/proc/self/exe`, read now (after a rename over it, that link names the old file, deleted).
    static func executablePath() -> String {
        let first = CommandLine.arguments.first ?? ""
        if first.hasPrefix("/") { return first }
        if first.contains("/") { return FileManager.default.currentDirectoryPath + "/" + first }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? first
    }

    /// Writes a line to standard error directly; a failed write (a closed pipe) is dropped: there is nowhere
    /// else to say it, and `FileHandle.write` would trap on it.
    static func printLine(_ line: String) {
        let bytes = Array("\(line)\n".utf8)
        var written = 0
        while written < bytes.count {
            // The pointer lives only inside the closure, and `written` stays below the array's count.
            let result = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + written, $0.count - written) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return }
            written += result
        }
    }

    static func printError(_ message: String) {
        printLine("socksd: \(message)")
    }

    static func exitWithUsage(_ error: any Error) -> Never {
        printError("\(error)")
        printLine(CommandLineOptions.usage)
        exit(64)
    }

    /// Prints every problem of a configuration that cannot be used, and exits: 1 when all of them come from
    /// the system (a file that cannot be read, a name that does not resolve), 64 otherwise, with the usage
    /// after them when a flag's value is wrong.
    static func exitWithProblems(_ error: ConfigurationProblems) -> Never {
        for problem in error.problems { printError("\(problem)") }
        let invalid = error.problems.filter { $0.kind == .invalid }
        if invalid.contains(where: { $0.path.hasPrefix("--") }) { printLine(CommandLineOptions.usage) }
        exit(invalid.isEmpty ? 1 : 64)
    }
}
