import AsyncSockets
import TestSupport
@testable import SOCKSServer

/// An in-process server (`ServerHarness`) with a metrics endpoint on another loopback port, both running.
struct MetricsHarness {
    let harness: ServerHarness
    let endpoint: MetricsEndpoint
    let task: Task<Void, Never>

    var server: SOCKSServer { harness.server }
    var address: SocketAddress { endpoint.localAddress }

    init(requestTimeout: Duration = .seconds(10), _ configure: (inout SOCKSServer.Configuration) throws -> Void = { _ in }) throws {
        harness = try ServerHarness(configure)
        let endpoint = try MetricsEndpoint(
            bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0), server: harness.server, version: "0.1.0-test", requestTimeout: requestTimeout)
        self.endpoint = endpoint
        task = Task { await endpoint.run() }
    }

    /// `GET /metrics`, parsed.
    func scrape() async throws -> MetricSamples {
        MetricSamples(try await HTTPTestExchange.get("/metrics", from: address).body)
    }

    /// Scrapes over HTTP until `series` reads `expected` or `timeout` has passed; returns the last value
    /// read, so a failing expectation shows what was there instead.
    func value(of series: String, settlingAt expected: Double, within timeout: Duration = .seconds(10)) async throws -> Double? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let value = try await scrape()[series]
            if value == expected || ContinuousClock.now >= deadline { return value }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async {
        endpoint.close()
        await task.value
        await harness.stop()
    }
}
