import AsyncSockets
import SOCKSClient
import Synchronization

/// One upstream as routes use it: its name, where it is, and its health, shared by every session (and
/// kept across a reload that leaves its URL as it was). Results of sessions and probes go through
/// `succeeded` / `failed`, which log each change of health once and keep `socksd_upstream_up` in step.
final class RoutedUpstream: Sendable {
    let name: String
    let proxy: UpstreamProxy
    let counters: UpstreamMetrics.Counters
    private let health = Mutex(UpstreamHealth.initial)

    init(name: String, proxy: UpstreamProxy, counters: UpstreamMetrics.Counters) {
        self.name = name
        self.proxy = proxy
        self.counters = counters
        counters.up.store(1, ordering: .relaxed)
    }

    var isUp: Bool { health.withLock { $0.isUp } }

    /// The upstream answered: its handshake completed (whatever it then replied to the request).
    func succeeded(logger: SOCKSLogger) {
        report(health.withLock { $0.recordSuccess() }, logger: logger)
    }

    /// The upstream could not be reached or did not complete its handshake.
    func failed(_ reason: String, failureLimit: Int, logger: SOCKSLogger) {
        report(health.withLock { $0.recordFailure(reason, failureLimit: failureLimit) }, logger: logger)
    }

    private func report(_ change: UpstreamHealth.Change?, logger: SOCKSLogger) {
        switch change {
        case nil:
            return
        case .wentDown(let reason):
            counters.up.store(0, ordering: .relaxed)
            logger.warning("upstream \(name) is down: \(reason)")
        case .cameUp:
            counters.up.store(1, ordering: .relaxed)
            logger.info("upstream \(name) is up")
        }
    }

    /// A client for this upstream, its handshake under `timeout`.
    func client(resolver: any HostResolver, timeout: Duration) -> SOCKSClient {
        proxy.client(resolver: resolver, timeout: timeout)
    }

    /// Greets the upstream (and logs in, when it has credentials), then hangs up: whether it answers.
    func probe(resolver: any HostResolver, timeout: Duration, failureLimit: Int, logger: SOCKSLogger) async {
        do {
            try await client(resolver: resolver, timeout: timeout).probe()
            succeeded(logger: logger)
        } catch {
            failed("\(error)", failureLimit: failureLimit, logger: logger)
        }
    }
}
