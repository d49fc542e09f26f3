import AsyncSockets

/// What every session of one server shares: read-only settings, the access policy, the limits and login
/// throttle that span sessions, and the server's counters.
struct SessionContext: Sendable {
    let configuration: SOCKSServer.Configuration
    let metrics: ServerMetrics
    let policy: AccessPolicy
    /// The policy for datagrams and UoT frames (no own-listener check: UDP cannot reach a TCP listener).
    let datagramPolicy: AccessPolicy
    /// Resolves destinations this server connects to itself: the configured resolver, with the addresses
    /// the policy denies removed.
    let destinationResolver: any HostResolver
    /// The same for datagram destinations, under `datagramPolicy`.
    let datagramResolver: any HostResolver
    let loginThrottle: LoginThrottle
    /// `maxSessionsPerUser`, counted per user name.
    let userLimit: SessionLimit?
    /// `maxUDPAssociations`, counted under one key.
    let udpLimit: SessionLimit?
    /// Logins refused while their IP is throttled: the first at once, then a count every 10 s.
    let throttledLoginReport: SummarizingReport
    /// Logins refused because the password checker's queue was full.
    let busyCheckerReport: SummarizingReport
    /// Requests refused by the per-user or UDP limits.
    let limitReport: SummarizingReport

    init(configuration: SOCKSServer.Configuration, metrics: ServerMetrics, ownListeners: [SocketAddress]) {
        self.configuration = configuration
        self.metrics = metrics
        policy = AccessPolicy(rules: configuration.destinationRules, ownListeners: ownListeners, direct: configuration.upstream == nil)
        destinationResolver = policy.resolver(over: configuration.resolver)
        datagramPolicy = policy.forDatagrams
        datagramResolver = datagramPolicy.resolver(over: configuration.resolver)
        loginThrottle = LoginThrottle(settings: LoginThrottle.Settings(
            failureLimit: configuration.loginFailureLimit, window: .seconds(60),
            backoff: configuration.loginBackoff, backoffLimit: configuration.loginBackoffLimit))
        userLimit = configuration.maxSessionsPerUser.map(SessionLimit.init(limit:))
        udpLimit = configuration.maxUDPAssociations.map(SessionLimit.init(limit:))
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

    /// The UDP-association key of `udpLimit`.
    static let udpLimitKey = ""
}
