extension SOCKSServer {
    /// Every `upstreamProbeInterval` (of the configuration at that moment), greets each upstream that is
    /// down, all at once, each within `connectTimeout`: one that answers is up again. Runs while the server
    /// runs; returns when cancelled.
    nonisolated func probeDownUpstreams() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.upstreamProbeInterval)
            } catch {
                return
            }
            let configuration = self.configuration
            let down = runtime.upstreams.down
            guard !down.isEmpty else { continue }
            await withDiscardingTaskGroup { group in
                for upstream in down {
                    group.addTask {
                        await upstream.probe(
                            resolver: configuration.resolver, timeout: configuration.connectTimeout,
                            failureLimit: configuration.upstreamFailureLimit, logger: configuration.logger)
                    }
                }
            }
        }
    }
}
