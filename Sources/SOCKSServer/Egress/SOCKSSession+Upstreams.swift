import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// Sends a request through the route's upstreams, in the order given, failing over: each try gets its
    /// own connect deadline; an upstream that cannot be reached or does not complete its handshake counts a
    /// failure toward its health and the next one is tried. An upstream's own refusal (its reply code) is
    /// the answer: passed on to the client, not failed over. The record's `via` names the upstream that
    /// answered (or was tried last).
    ///
    /// - Parameters:
    ///   - what: the request, for the log (`CONNECT`, `BIND`, `UDP egress`).
    ///   - endsOnFIN: whether the client's FIN ends the wait (see `whileClientWaits`).
    /// - Returns: the request's result; nil when every try failed or the upstream refused (the client has
    ///   its reply) or the client hung up (outcome `client-closed`, no reply).
    func throughUpstreams<Result: Sendable>(
        _ upstreams: [RoutedUpstream], _ what: String, endsOnFIN: Bool = false,
        _ request: @escaping @Sendable (SOCKSClient, UpstreamProxy) async throws -> Result
    ) async -> Result? {
        let configuration = context.configuration
        let logger = context.logger
        var failures: [String] = []
        var lastError: any Error = SocketError.timedOut
        for upstream in upstreams {
            record.via = .upstream(upstream.name)
            let client = upstream.client(resolver: configuration.resolver, timeout: configuration.connectTimeout)
            let start = ContinuousClock.now
            do {
                let result = try await whileClientWaits(timeout: configuration.connectTimeout, endsOnFIN: endsOnFIN) { [proxy = upstream.proxy] in
                    try await request(client, proxy)
                }
                upstream.counters.connectDurations.observe(ContinuousClock.now - start)
                upstream.succeeded(logger: logger)
                return result
            } catch is PeerHungUp {
                record.outcome = .clientClosed
                return nil
            } catch SOCKSClientError.requestFailed(let code) {
                upstream.succeeded(logger: logger)
                await fail(code, reason: "\(what) through upstream \(upstream.name) (\(upstream.proxy.redactedURL)): the upstream replied \(code.hex) (\(code))")
                return nil
            } catch {
                upstream.failed("\(error)", failureLimit: configuration.upstreamFailureLimit, logger: logger)
                failures.append("\(upstream.name) (\(upstream.proxy.redactedURL)): \(error)")
                lastError = error
            }
        }
        await fail(Self.upstreamFailureCode(lastError), reason: "\(what) through upstream \(failures.joined(separator: "; then "))")
        return nil
    }

    /// Answers a request whose route has no upstream up: reply 03 (HTTP 502). Never inlined: a failure path
    /// whose reply and message would otherwise grow the frames of its callers, held for a session's life.
    @inline(never)
    func failAllDown(_ upstreams: [RoutedUpstream], _ what: String) async {
        record.via = upstreams.first.map { .upstream($0.name) }
        await fail(.networkUnreachable, reason: "\(what): every upstream of the route is down (\(upstreams.map(\.name).joined(separator: ", ")))")
    }
}
