import AsyncSockets
import SOCKSProtocol

extension SOCKSSession: HTTPForwardingSession {
    /// HTTP forwarding (absolute-form requests on one client connection): the `HTTPForwardingRelay`, from
    /// the request the handshake read to the last; a `CONNECT` among them ends the series with a tunnel,
    /// served as a CONNECT.
    func serveHTTPForwarding(_ accepted: ClientRequest) async {
        guard let start = accepted.forward else { return }
        let counters = RelayCounters(registry: context.metrics)
        tracker.relaying(with: counters)
        var relay = HTTPForwardingRelay(
            client: HTTPInbound(connection: connection, buffered: start.pending), frontEnd: httpFrontEnd, counters: counters,
            handshakeTimeout: context.configuration.handshakeTimeout, idleTimeout: context.configuration.idleTimeout, logger: context.logger)
        guard let tunnel = await relay.run(first: start.request, in: self) else { return }
        tracker.accepted(user: servedUser, command: .connect, destination: tunnel.destination)
        // Served once the forwarding has settled its own byte counts, so the tunnel's access line keeps the
        // tunnel's bytes (the forwarding's accounting used to overwrite them with its own, zero).
        await serveConnect(ClientRequest(request: SOCKSRequest(command: .connect, destination: tunnel.destination), earlyData: relay.takeClientBytes(), user: servedUser))
    }

    func serving(_ destination: SOCKSEndpoint) {
        tracker.accepted(user: servedUser, command: .connect, destination: destination)
    }

    func admit(_ request: HTTPProxyRequest, lastLogin: inout HTTPProxyAuthorization, beforeChangingUser: () -> Void) async -> Bool {
        guard context.configuration.requiresLogin && request.authorization != lastLogin else {
            record.user = servedUser.map { Array($0.utf8) }
            return true
        }
        let user: String?
        do {
            user = try await httpFrontEnd.authenticate(request) { credentials in await logIn(credentials) }
        } catch {
            record.outcome = handshakeOutcome(error)
            return false
        }
        lastLogin = request.authorization
        record.user = user.map { Array($0.utf8) }
        if user != servedUser { beforeChangingUser() }
        return await serve(as: user)
    }
}
