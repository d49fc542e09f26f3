import AsyncSockets

/// What every session of one server shares: one configuration's read-only settings and access policy, the
/// state that spans sessions and reloads (`runtime`), and the server's counters. A reload makes a new
/// context; a session keeps the one it started with.
final class SessionContext: Sendable {
    let configuration: SOCKSServer.Configuration
    let metrics: ServerMetrics
    /// The server's access policy, for sessions without a user or whose user has no rules of its own.
    let access: SessionAccess
    /// The access of each user with rules of its own.
    let userAccess: [String: SessionAccess]
    /// Where requests go: routes, upstreams and their health.
    let router: Router
    /// Login backoffs, per-user and UDP session counts, open-session trackers: kept across reloads.
    let runtime: SessionRuntime
    /// Logins refused while their IP is throttled: the first at once, then a count every 10 s.
    let throttledLoginReport: SummarizingReport
    /// Logins refused because the password checker's queue was full.
    let busyCheckerReport: SummarizingReport
    /// Requests refused by the per-user or UDP limits.
    let limitReport: SummarizingReport

    init(configuration: SOCKSServer.Configuration, metrics: ServerMetrics, runtime: SessionRuntime) {
        self.configuration = configuration
        self.metrics = metrics
        self.runtime = runtime
        access = SessionAccess(rules: configuration.destinationRules, ownAddresses: runtime.ownAddresses, resolver: configuration.resolver)
        userAccess = configuration.userPolicies.filter { !$0.value.destinationRules.isEmpty }.mapValues { user in
            SessionAccess(
                rules: configuration.destinationRules, userRules: user.destinationRules, ownAddresses: runtime.ownAddresses,
                resolver: configuration.resolver)
        }
        router = Router(
            configuration: configuration, upstreams: runtime.upstreams.update(Router.proxies(of: configuration), metrics: metrics.upstreams))
        let logger = configuration.logger
        throttledLoginReport = SummarizingReport(interval: .seconds(10)) { suppressed in
            logger.warning("login throttling: refused \(suppressed) more login(s) from throttled addresses in the last 10 s")
        }
        busyCheckerReport = SummarizingReport(interval: .seconds(10)) { suppressed in
            logger.warning("refused \(suppressed) more login(s) in the last 10 s: the password checker is busy")
        }
        limitReport = SummarizingReport(interval: .seconds(10)) { suppressed in
            logger.warning("refused \(suppressed) more request(s) over --max-sessions-per-user or --max-udp-associations in the last 10 s")
        }
    }

    var logger: SOCKSLogger { configuration.logger }
    var loginThrottle: LoginThrottle { runtime.loginThrottle }
    var openSessions: OpenSessions { runtime.openSessions }
    var userSessions: SessionLimit { runtime.userSessions }
    var udpAssociations: SessionLimit { runtime.udpAssociations }

    /// The access policy for a session of `user` (nil before or without a login).
    func access(for user: String?) -> SessionAccess {
        user.flatMap { userAccess[$0] } ?? access
    }

    /// The most sessions `user` may have open: its own limit, else the server's per-user limit.
    func sessionLimit(for user: String) -> Int? {
        configuration.userPolicies[user]?.maxSessions ?? configuration.maxSessionsPerUser
    }

    /// The key `udpAssociations` counts under.
    static let udpLimitKey = ""
}
