import AsyncSockets

extension SOCKSServer {
    /// What a reload changed.
    public struct ReloadOutcome: Sendable, Hashable {
        /// Addresses newly listened on.
        public var opened: [SocketAddress]
        /// Addresses kept (their sockets never closed).
        public var kept: [SocketAddress]
        /// Addresses no longer listened on (their sessions go on).
        public var closed: [SocketAddress]
        /// Sessions ended because their user is gone (only when asked for).
        public var endedSessions: Int
    }

    /// Replaces the configuration: new sessions get the new one whole (users, rules, limits, timeouts,
    /// upstreams and routes, logger); sessions already open keep the one they started with and are never dropped,
    /// unless `endingSessionsOfRemovedUsers` asks to end those whose user the new configuration no longer
    /// has. (While the new users have a PAM service, no session is ended so: a name not among the users
    /// may still be one PAM accepts, which only a password could tell.)
    ///
    /// Listeners: an address in both configurations keeps its socket (no connection is refused during the
    /// reload); new addresses are bound before anything changes, removed ones stop accepting (their sessions
    /// drain as they end). Everything is checked first: on any error (an address in use, an open proxy) the
    /// server goes on with the old configuration and nothing has changed. Login backoffs, per-IP and
    /// per-user session counts carry over, and so does the health of every upstream whose URL is unchanged.
    ///
    /// - Throws: `SOCKSServerError.noListenAddress`, `.duplicateListenAddress`, `.openProxy`, `.noProtocols`,
    ///   `.socks4WithAuthentication`, `.notServing` (stopped or draining), or the `SocketError` of an address
    ///   that cannot be bound.
    ///
    /// Each call counts in `metrics` (`succeededReloadCount` or `failedReloadCount`, exposed as
    /// `socksd_config_reloads_total`), whoever calls it.
    @discardableResult
    public func reload(_ configuration: Configuration, endingSessionsOfRemovedUsers: Bool = false) throws -> ReloadOutcome {
        do {
            let outcome = try apply(configuration, endingSessionsOfRemovedUsers: endingSessionsOfRemovedUsers)
            metrics.recordReload(succeeded: true)
            return outcome
        } catch {
            metrics.recordReload(succeeded: false)
            throw error
        }
    }

    /// `reload(_:endingSessionsOfRemovedUsers:)` without the count.
    private func apply(_ configuration: Configuration, endingSessionsOfRemovedUsers: Bool) throws -> ReloadOutcome {
        let specs = try ListenerSpec.validate(configuration)
        try Router.validate(configuration)
        let open = Self.openProxyAddresses(configuration)
        guard open.isEmpty else { throw SOCKSServerError.openProxy(open) }
        let current = currentGroups()
        guard acceptsReload else { throw SOCKSServerError.notServing }

        // Each kept group with the listener it now is: one group per listener at most, as port 0 may be
        // configured twice (two sockets).
        var keptWithSpecs: [(group: ListenerGroup, spec: ListenerSpec)] = []
        var opened: [ListenerGroup] = []
        do {
            for spec in specs {
                if let group = current.first(where: { group in group.configured == spec.address && !keptWithSpecs.contains { $0.group === group } }) {
                    keptWithSpecs.append((group, spec))
                } else {
                    opened.append(try ListenerGroup(spec, loops: eventLoops, ownAddresses: ownAddresses))
                }
            }
        } catch {
            opened.forEach { $0.close() }
            throw error
        }
        let kept = keptWithSpecs.map(\.group)
        let removed = current.filter { group in !kept.contains { $0 === group } }
        // A kept address takes its new mode (plain or PROXY, which balancers, which protocols) with its socket.
        for (group, spec) in keptWithSpecs {
            group.mode = ListenerGroup.Mode(trustedProxies: spec.trustedProxies, protocols: spec.protocols)
        }
        install(configuration, groups: kept + opened, opened: opened)
        removed.forEach { $0.close() }

        var ended = 0
        // PAM and GSS-API log in users the user list does not name: while either is configured, a name
        // missing from the list is no removed user.
        if endingSessionsOfRemovedUsers, configuration.users?.pam == nil, configuration.gssapi == nil {
            let remaining = Set(configuration.users?.usernames ?? [])
            ended = openSessions.end { !remaining.contains($0) }
        }
        return ReloadOutcome(
            opened: opened.map(\.localAddress), kept: kept.map(\.localAddress), closed: removed.map(\.localAddress), endedSessions: ended)
    }
}
