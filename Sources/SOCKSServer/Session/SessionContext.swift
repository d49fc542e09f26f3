/// What every session of one server shares: read-only settings and the server's counters.
struct SessionContext: Sendable {
    let configuration: SOCKSServer.Configuration
    let metrics: ServerMetrics

    var logger: SOCKSLogger { configuration.logger }
}
