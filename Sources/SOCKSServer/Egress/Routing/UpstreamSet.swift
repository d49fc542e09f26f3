import Synchronization

/// The upstreams of the configuration now, by name (`default` for the unnamed one): what outlives a
/// reload of them. An upstream whose URL (and credentials and UDP transport) a reload leaves unchanged keeps
/// its `RoutedUpstream`, and so its health; a changed one starts anew, up.
final class UpstreamSet: Sendable {
    private let byName = Mutex<[String: RoutedUpstream]>([:])

    /// Makes `proxies` the upstreams; returns them as routes use them.
    func update(_ proxies: [String: UpstreamProxy], metrics: UpstreamMetrics) -> [String: RoutedUpstream] {
        metrics.register(proxies.keys)
        return byName.withLock { byName in
            var updated: [String: RoutedUpstream] = [:]
            for (name, proxy) in proxies {
                if let kept = byName[name], kept.proxy == proxy {
                    updated[name] = kept
                } else if let counters = metrics.counters(name) {
                    updated[name] = RoutedUpstream(name: name, proxy: proxy, counters: counters)
                }
            }
            byName = updated
            return updated
        }
    }

    /// The upstreams that are down now (what the probe loop greets).
    var down: [RoutedUpstream] {
        byName.withLock { $0.values.filter { !$0.isUp } }
    }
}
