import AsyncSockets
import SOCKSProtocol

/// What the HTTP forwarding relay asks of the session it runs in, in the session's own isolation (no hop):
/// the access record, which each forwarded request fills in (each has an access line of its own), and the
/// stages before a relay, asked again for every request: its login and the user's limits, then the
/// policy and the egress that reach its origin. `SOCKSSession` is the one conformer; the relay owns the
/// rest (the client's unread bytes, the kept origin connection, the counters).
protocol HTTPForwardingSession: Actor {
    var record: SessionRecord { get set }
    /// The served user's bandwidth cap (nil for none); another user's request brings that user's.
    var bandwidth: BandwidthLimiter? { get }

    /// Tells the session summary that the session serves a request to `destination` now.
    func serving(_ destination: SOCKSEndpoint)

    /// Judges a request after the first by its own login, checked as on a new connection unless it repeats
    /// `lastLogin` (a crypt hash costs milliseconds of CPU per request): a wrong one (or none) is answered
    /// 407 and ends the connection; another user's makes this that user's request, under that user's
    /// rules, cap and session limit (`beforeChangingUser` runs first). The record names the request's user.
    ///
    /// - Returns: false when the session ends here (answered and recorded).
    func admit(_ request: HTTPProxyRequest, lastLogin: inout HTTPProxyAuthorization, beforeChangingUser: () -> Void) async -> Bool

    /// Checks `destination` against the policy and reaches it (the egress stage, `SOCKSSession.reach`):
    /// the connection, or nil when the client has its answer and the record says why.
    func reach(_ destination: SOCKSEndpoint) async -> (TCPConnection, bound: SOCKSEndpoint)?
}
