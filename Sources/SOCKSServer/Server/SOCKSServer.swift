import AsyncSockets
import Synchronization

/// A SOCKS5 server (RFC 1928, RFC 1929) to embed in an async Swift program.
///
/// ```swift
/// var configuration = SOCKSServer.Configuration()
/// configuration.listenAddresses = [try SocketAddress("127.0.0.1", port: 0)]
/// let server = try SOCKSServer(configuration: configuration)   // binds now
/// print(server.localAddresses)                                 // the real ports
/// try await server.run()        // serves until cancelled, or until shutdown() has drained
/// ```
///
/// Each accepted connection becomes a session: a child task of the listener's task group, whose own
/// children relay the data. Cancelling `run()` cancels every session; `shutdown()` stops accepting, lets
/// sessions finish for `shutdownGracePeriod`, then cancels the rest.
public actor SOCKSServer {
    private enum State {
        case ready, running, stopped
    }

    /// What new sessions and the accept loops work with now; a reload swaps it whole.
    private struct Serving: Sendable {
        /// Settings, policy, limits: what every new session takes once, when it starts.
        var context: SessionContext
        /// The listeners, one group per configured address.
        var groups: [ListenerGroup]
        /// Hands a new group to the running accept loops' task group; nil before `run()` and after it.
        var newGroups: AsyncStream<ListenerGroup>.Continuation?
    }

    /// The configuration new sessions get: the one the server was created with, or the last reload's.
    public nonisolated var configuration: Configuration { serving.withLock { $0.context.configuration } }
    /// The addresses the server listens on, with real ports (useful after binding port 0).
    public nonisolated var localAddresses: [SocketAddress] { serving.withLock { $0.groups.map(\.localAddress) } }
    /// Those of `localAddresses` that expect a PROXY protocol header.
    public nonisolated var proxyProtocolAddresses: [SocketAddress] {
        serving.withLock { $0.groups.filter { $0.proxyProtocol != nil }.map(\.localAddress) }
    }
    /// Live counters: sessions, bytes, failed handshakes.
    public nonisolated let metrics = ServerMetrics()
    /// The trackers of the open sessions.
    nonisolated let openSessions = OpenSessions()
    /// What outlives a reload: login backoffs, per-user and UDP session counts, the server's own sockets.
    nonisolated let runtime: SessionRuntime
    /// The server's own sockets (proxy and metrics listeners, UDP relay sockets), which the access policy
    /// denies as destinations.
    nonisolated var ownAddresses: OwnAddresses { runtime.ownAddresses }
    /// What `phase` reports.
    nonisolated let lifecycle = ServerLifecycle()
    /// The server's use of its event loops, from its creation until `run()` returns.
    private nonisolated let loops: EventLoopHold
    /// The event loops the server's listeners and sessions run on.
    package nonisolated var eventLoops: EventLoopGroup { loops.group }

    private nonisolated let serving: Mutex<Serving>
    /// Who may connect and how many: the first stage of every connection. Its counts outlive a reload.
    private nonisolated let admission: AdmissionControl

    /// What admission holds now: client IPs with open sessions and rate buckets (for tests of its bounds).
    nonisolated var admissionState: (clients: Int, buckets: Int) { (admission.trackedClients, admission.trackedBuckets) }
    /// The sessions admission counts for `address` now (its place is given back just after the session ends).
    nonisolated func admittedSessions(from address: IPAddress) -> Int { admission.admittedSessions(from: address) }
    /// What new sessions share now: settings, policy, per-user and UDP limits, the login throttle.
    nonisolated var context: SessionContext { serving.withLock { $0.context } }
    /// One summarised log line per kind of refusal at accept, however many clients are refused.
    private nonisolated let refusalReports: [AdmissionControl.Refusal.Kind: SummarizingReport]
    /// Bad or missing PROXY headers: the first logged at once, then a count every 10 s.
    private nonisolated let proxyHeaderReport: SummarizingReport
    /// Connections to a PROXY listener from untrusted senders, likewise.
    private nonisolated let untrustedProxyReport: SummarizingReport
    /// Descriptor shortages hit every loop's accept loop at once; one line per shortage is enough.
    private let exhaustionReport = RateLimitedReport(interval: .seconds(10))
    private var state = State.ready
    /// When open sessions are cancelled, once `shutdown()` or `handOver` has stopped accepting.
    private nonisolated let drainDeadline = Mutex<ContinuousClock.Instant?>(nil)
    /// Whether `handOver` was called: from then on `shutdown()` only shortens the drain.
    private nonisolated let handedOver = Atomic<Bool>(false)
    private let shutdownRequests: AsyncStream<StopRequest>
    private let shutdownTrigger: AsyncStream<StopRequest>.Continuation

    /// Creates the server and binds its listeners, so that a port in use fails here, before `run()`.
    ///
    /// - Parameters:
    ///   - configuration: what the server serves, and to whom.
    ///   - eventLoops: the loops to serve on, which the caller shuts down once `run()` has returned; `nil`
    ///     (the default) for the shared loops, which start with the first server or client and stop when
    ///     the last one is done (this server holds them from now until `run()` returns).
    ///   - passed: listening sockets another process passed on (socket activation, an upgrade): a listener
    ///     whose address one of them has takes it instead of binding (`PassedListeners`); the sockets left
    ///     over stay in `passed`.
    /// - Throws: `SocketError` when an address cannot be bound (for example `EADDRINUSE`);
    ///   `SOCKSServerError.noListenAddress` for an empty address list; `SOCKSServerError.openProxy` for an
    ///   address that is not loopback with no users, no `allowFrom` and no `allowOpenProxy`;
    ///   `SOCKSServerError.noProtocols` for a listener with an empty protocol set, and
    ///   `SOCKSServerError.socks4WithAuthentication` for SOCKS4 offered while users must log in;
    ///   `SOCKSServerError.duplicateListenAddress` for an address with a fixed port given for two listeners;
    ///   `SOCKSServerError.eventLoopsUnavailable` when the loops cannot start (no descriptor for epoll, no
    ///   thread) or `eventLoops` has been shut down.
    package init(configuration: Configuration, eventLoops: EventLoopGroup? = nil, passed: PassedListeners = .none) throws {
        let specs = try ListenerSpec.validate(configuration)
        try Router.validate(configuration)
        let open = Self.openProxyAddresses(configuration)
        guard open.isEmpty else { throw SOCKSServerError.openProxy(open) }
        let loops: EventLoopHold
        do {
            loops = try EventLoopHold(eventLoops)
        } catch {
            throw SOCKSServerError.eventLoopsUnavailable(error)
        }
        // The runtime first: its registry of the server's own addresses takes each listener as it is bound.
        let runtime = SessionRuntime(configuration: configuration, openSessions: openSessions)
        var made: [Int: ListenerGroup] = [:]
        do {
            // Fixed ports take their passed sockets first, so that a port 0 listener on the same address
            // cannot take one of them.
            let order = specs.indices.filter { specs[$0].address.port != 0 } + specs.indices.filter { specs[$0].address.port == 0 }
            for index in order {
                made[index] = try ListenerGroup(specs[index], loops: loops.group, ownAddresses: runtime.ownAddresses, passed: passed)
            }
        } catch {
            made.values.forEach { $0.close() }
            throw error
        }
        let groups = specs.indices.compactMap { made[$0] }
        self.runtime = runtime
        self.loops = loops
        admission = AdmissionControl(configuration: configuration)
        let context = SessionContext(configuration: configuration, metrics: metrics, runtime: runtime)
        serving = Mutex(Serving(context: context, groups: groups))
        let logger = configuration.logger
        refusalReports = Dictionary(uniqueKeysWithValues: AdmissionControl.Refusal.Kind.allCases.map { kind in
            (kind, SummarizingReport(interval: .seconds(10)) { suppressed in
                logger.warning("refused \(suppressed) more connection(s) \(kind) in the last 10 s")
            })
        })
        untrustedProxyReport = SummarizingReport(interval: .seconds(10)) { suppressed in
            logger.warning("refused \(suppressed) more connection(s) from untrusted senders on PROXY protocol listeners in the last 10 s")
        }
        proxyHeaderReport = SummarizingReport(interval: .seconds(10)) { suppressed in
            logger.warning("closed \(suppressed) more PROXY protocol connection(s) without a valid header in the last 10 s")
        }
        (shutdownRequests, shutdownTrigger) = AsyncStream.makeStream(of: StopRequest.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The listener groups now.
    func currentGroups() -> [ListenerGroup] {
        serving.withLock { $0.groups }
    }

    /// Whether a reload may change the server: not after it stopped, nor while it drains.
    var acceptsReload: Bool {
        switch phase {
        case .ready, .serving: true
        case .draining, .stopped: false
        }
    }

    /// Makes `configuration` the one new sessions get, with `groups` as the listeners (`opened` among them
    /// start accepting now if the server runs).
    func install(_ configuration: Configuration, groups: [ListenerGroup], opened: [ListenerGroup]) {
        admission.update(configuration)
        runtime.update(configuration)
        let context = SessionContext(configuration: configuration, metrics: metrics, runtime: runtime)
        serving.withLock { serving in
            serving.context = context
            serving.groups = groups
            for group in opened { serving.newGroups?.yield(group) }
        }
    }

    /// The listen addresses that would make an open proxy: those that are not loopback, when there are no
    /// users and no `allowFrom`, unless `allowOpenProxy` says that is meant. Empty when the configuration is
    /// safe to start.
    static func openProxyAddresses(_ configuration: Configuration) -> [SocketAddress] {
        guard !configuration.requiresLogin, configuration.allowFrom.isEmpty, !configuration.allowOpenProxy else { return [] }
        // A PROXY listener counts too: the balancer in front passes on whoever reaches it.
        return ListenerSpec.all(configuration).map(\.address).filter { !$0.ip.unmapped.isLoopback }
    }

    /// Accepts and serves clients until the task is cancelled, or until a `shutdown()` has drained.
    ///
    /// - Throws: `SOCKSServerError.alreadyStarted` on a second call.
    public func run() async throws {
        guard state == .ready else { throw SOCKSServerError.alreadyStarted }
        state = .running
        lifecycle.started()
        // Dispatch makes a clock's timer descriptor (a timerfd) for the first timer on that clock; doing that
        // now means a later Task.sleep can never be the first one during a descriptor shortage, where no
        // descriptor could be made and the sleep would never end. (`DescriptorReserve` keeps a few free for
        // such needs in any case; libdispatch's worker monitor, which aborts without one, is why.)
        try? await Task.sleep(for: .nanoseconds(1))
        let (newGroups, newGroupsContinuation) = AsyncStream.makeStream(of: ListenerGroup.self)
        serving.withLock { serving in
            serving.groups.forEach { newGroupsContinuation.yield($0) }
            serving.newGroups = newGroupsContinuation
        }
        defer {
            stopAccepting()
            state = .stopped
            lifecycle.stopped()
            // Every session has ended and every listener is closed: the loops may stop (the shared ones,
            // when this was their last user).
            loops.release()
        }
        let logger = configuration.logger
        let gracePeriod = configuration.shutdownGracePeriod
        var unrestricted = configuration
        unrestricted.allowOpenProxy = false
        unrestricted.listenAddresses = localAddresses
        let open = Self.openProxyAddresses(unrestricted)
        if !open.isEmpty {
            logger.warning("running an open proxy on \(open.map(\.description).joined(separator: ", ")) (--allow-open-proxy): anyone who reaches it may use it")
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.serve(newGroups) }
            // Never ends by itself: cancelled with the group when serving ends.
            group.addTask { await self.probeDownUpstreams() }
            group.addTask {
                // Waits for shutdown() or handOver(); ends early (doing nothing) when serving ends or run() is
                // cancelled.
                var requests = self.shutdownRequests.makeAsyncIterator()
                guard let request = await requests.next() else { return }
                switch request {
                case .shutDown:
                    logger.info("shutting down: no new sessions, \(self.metrics.activeSessions) open, grace period \(gracePeriod)")
                    self.stopAccepting()
                    self.drainUntil(atLatest: .now + gracePeriod)
                case .handOver(let drainTimeout):
                    self.stopAccepting(releasing: true)
                    self.drainUntil(atLatest: .now + drainTimeout)
                }
                // Until the deadline, which a shutdown() during a hand-over's drain brings forward.
                while let deadline = self.drainDeadline.withLock({ $0 }), ContinuousClock.now < deadline, !Task.isCancelled {
                    try? await Task.sleep(until: min(deadline, .now + .milliseconds(250)))
                }
                if !Task.isCancelled {
                    logger.warning("grace period over: cancelling \(self.metrics.activeSessions) open sessions")
                }
            }
            // Whichever ends first (all sessions drained, or the grace period) ends the other.
            await group.next()
            group.cancelAll()
        }
    }

    /// Asks a running server to stop gracefully: stop accepting, let open sessions finish for
    /// `shutdownGracePeriod`, then cancel what is left. `run()` returns when that is done.
    ///
    /// Safe to call from any context, any number of times.
    public nonisolated func shutdown() {
        if handedOver.load(ordering: .acquiring) {
            // The listeners belong to another process now (they must not be shut down): the grace period
            // only cuts the hand-over's drain short.
            let gracePeriod = configuration.shutdownGracePeriod
            configuration.logger.info("shutting down: \(metrics.activeSessions) open, grace period \(gracePeriod)")
            drainUntil(atLatest: .now + gracePeriod)
            return
        }
        lifecycle.draining()
        shutdownTrigger.yield(.shutDown)
    }

    /// Brings the end of the drain forward to `deadline`, never back.
    private nonisolated func drainUntil(atLatest deadline: ContinuousClock.Instant) {
        drainDeadline.withLock { current in current = min(current ?? deadline, deadline) }
    }

    /// Hands the listening sockets over to another process that holds them too (the new socksd of an
    /// upgrade): stops accepting without shutting them down, so that the other process goes on accepting
    /// with no connection refused; lets open sessions finish for `drainTimeout`, then cancels what is left.
    /// `run()` returns when that is done. The first of `shutdown()` and `handOver` is the one that counts.
    package nonisolated func handOver(drainingFor drainTimeout: Duration) {
        handedOver.store(true, ordering: .releasing)
        lifecycle.draining()
        shutdownTrigger.yield(.handOver(drainTimeout))
    }

    /// The listening socket of each listener, as `localAddresses` lists them: what an upgrade passes on.
    package nonisolated var listeningSockets: [TCPListener] { serving.withLock { $0.groups.map { $0.listeners[0] } } }

    /// Closes every listener — or with `releasing`, lets go of it (`ListenerGroup.release()`) — and ends the
    /// stream of new ones: the accept loops end as their sessions drain.
    private nonisolated func stopAccepting(releasing: Bool = false) {
        let groups = serving.withLock { serving in
            serving.newGroups?.finish()
            serving.newGroups = nil
            return serving.groups
        }
        groups.forEach { releasing ? $0.release() : $0.close() }
    }

    /// Runs one accept loop per listener, for the listeners there are and those a reload adds, until the
    /// stream of new ones ends (shutdown) and every listener is closed and every session has ended.
    private nonisolated func serve(_ newGroups: AsyncStream<ListenerGroup>) async {
        await withDiscardingTaskGroup { group in
            for await listeners in newGroups {
                for listener in listeners.listeners {
                    group.addTask(executorPreference: listener.eventLoop) { await self.acceptLoop(listener, of: listeners) }
                }
            }
        }
    }

    private nonisolated func acceptLoop(_ listener: TCPListener, of group: ListenerGroup) async {
        let logger = configuration.logger
        let admission = self.admission
        await withDiscardingTaskGroup { sessions in
            do {
                // A new session goes to the least-loaded loop, this one on a tie: short sessions stay where
                // they were accepted (no thread hop), long-lived ones spread over the cores.
                let loops = eventLoops
                let home = listener.eventLoop
                let assign: @Sendable () -> EventLoop = { loops.leastLoaded(preferring: home) }
                let connections = listener.connections(assigningLoop: assign) { [exhaustionReport] error in
                    exhaustionReport {
                        logger.error("accept on \(listener.localAddress) failed: \(error); backing off and retrying until resources free up")
                    }
                }
                var accepted = connections.makeAsyncIterator()
                // Once the listener is closed, or released to another process: the connections still in
                // its queue, taken once and served here (after a release, the other process may not be
                // woken for those whose wake-up came here); then the loop ends.
                var leftOver: [TCPConnection]?
                while true {
                    let connection: TCPConnection
                    if leftOver == nil, let next = try await accepted.next() {
                        connection = next
                    } else {
                        var remaining = leftOver ?? listener.acceptPending(assigningLoop: assign).reversed()
                        guard let next = remaining.popLast() else { break }
                        leftOver = remaining
                        connection = next
                    }
                    // The session runs on the loop that watches its connection (its outbound sockets join
                    // that loop too), so readiness resumes it without a thread hop.
                    let loop = connection.eventLoop
                    let mode = group.mode
                    if let trusted = mode.trustedProxies {
                        // Behind a balancer: only it may connect; the client's address comes in its header,
                        // read in the session's own task, and admission follows from that address.
                        let balancer = connection.remoteAddress.unmapped
                        guard trusted.contains(where: { $0.containsClient(balancer.ip) }) else {
                            metrics.untrustedProxy()
                            untrustedProxyReport {
                                logger.warning("refused \(balancer) on PROXY protocol listener \(group.localAddress): not a trusted balancer")
                            }
                            connection.close()
                            continue
                        }
                        loop.adjustLoad(by: 1)
                        sessions.addTask(executorPreference: loop) {
                            await self.serveProxied(connection, protocols: mode.protocols)
                            loop.adjustLoad(by: -1)
                        }
                        continue
                    }
                    let client = connection.remoteAddress.unmapped.ip
                    if let refusal = admission.admit(client) {
                        refuse(connection, refusal, client: connection.remoteAddress.unmapped)
                        continue
                    }
                    // Each session takes the configuration of the moment it starts, and keeps it.
                    let context = self.context
                    loop.adjustLoad(by: 1)
                    sessions.addTask(executorPreference: loop) {
                        await SOCKSSession(connection: connection, context: context, protocols: mode.protocols).run()
                        admission.leave(client)
                        loop.adjustLoad(by: -1)
                    }
                }
            } catch is CancellationError {
                // run() was cancelled: the sessions are being cancelled too.
            } catch {
                logger.error("listener \(listener.localAddress) stopped: \(error)")
            }
        }
    }

    /// A connection of a PROXY listener from a trusted balancer: the header names the client, then the
    /// client goes through admission and, if admitted, becomes a session like any other.
    private nonisolated func serveProxied(_ connection: TCPConnection, protocols: Set<ClientProtocol>) async {
        let context = self.context
        switch await ProxyHeaderReader.read(from: connection, timeout: context.configuration.handshakeTimeout) {
        case .closedEmpty, .local:
            // The balancer's health checks: not worth a line above debug.
            context.logger.debug("PROXY protocol connection from \(connection.remoteAddress.unmapped): health check, closed")
            connection.close()
        case .failed(let reason):
            metrics.proxyHeaderFailed()
            proxyHeaderReport {
                context.logger.warning("PROXY protocol connection from \(connection.remoteAddress.unmapped) closed: \(reason)")
            }
            connection.close()
        case .client(let client, let early):
            if let refusal = admission.admit(client.ip) {
                refuse(connection, refusal, client: client)
                return
            }
            await SOCKSSession(connection: connection, context: context, protocols: protocols, client: client, initialBytes: early).run()
            admission.leave(client.ip)
        }
    }

    /// Closes a connection admission refused, before any protocol byte; counts and logs it (summarised).
    private nonisolated func refuse(_ connection: TCPConnection, _ refusal: AdmissionControl.Refusal, client: SocketAddress) {
        metrics.refused(refusal)
        refusalReports[refusal.kind]? {
            configuration.logger.warning("refused \(client): \(refusal)")
        }
        connection.close()
    }

    /// One line per open session (client, user, command, destination, bytes so far, age), oldest first:
    /// what the daemon logs on SIGUSR1. Values a client chose are escaped as in the access line.
    package nonisolated func openSessionSummary() -> [String] {
        openSessions.snapshots.map(\.line)
    }
}
