import AsyncSockets

/// What every session of one server shares: read-only settings, the access policy, the limits and login
/// throttle that span sessions, and the server's counters.
struct SessionContext: Sendable {
    let configuration: SOCKSServer.Configuration
    let metrics: ServerMetrics
    /// The server's access policy, for sessions without a user or whose user has no rules of its own.
    let access: SessionAccess
    /// The access of each user with rules of its own.
    let userAccess: [String: SessionAccess]
    let loginThrottle: LoginThrottle
    /// Every open session's tracker.
    let openSessions: OpenSessions
    /// Open sessions per user, against `maxSessionsPerUser` or the user's own limit.
    let userSessions = SessionLimit()
    /// `maxUDPAssociations`, counted under one key.
    let udpAssociations = SessionLimit()
    /// Logins refused while their IP is throttled: the first at once, then a count every 10 s.
    let throttledLoginReport: SummarizingReport
    /// Logins refused because the password checker's queue was full.
    let busyCheckerReport: SummarizingReport
    /// Requests refused by the per-user or UDP limits.
    let limitReport: SummarizingReport

    init(configuration: SOCKSServer.Configuration, metrics: ServerMetrics, ownListeners: [SocketAddress], openSessions: OpenSessions) {
        self.configuration = configuration
        self.metrics = metrics
        self.openSessions = openSessions
        let direct = configuration.upstream == nil
        access = SessionAccess(
            policy: AccessPolicy(rules: configuration.destinationRules, ownListeners: ownListeners, direct: direct),
            resolver: configuration.resolver)
        userAccess = configuration.userPolicies.filter { !$0.value.destinationRules.isEmpty }.mapValues { user in
            SessionAccess(
                policy: AccessPolicy(rules: configuration.destinationRules, userRules: user.destinationRules, ownListeners: ownListeners, direct: direct),
                resolver: configuration.resolver)
        }
        loginThrottle = LoginThrottle(settings: LoginThrottle.Settings(
            failureLimit: configuration.loginFailureLimit, window: .seconds(60),
            backoff: configuration.loginBackoff, backoffLimit: configuration.loginBackoffLimit))
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
