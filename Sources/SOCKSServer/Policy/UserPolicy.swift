/// What one user may do beyond the server's settings: destinations of its own, a session limit of its
/// own, and a bandwidth cap.
public struct UserPolicy: Sendable, Hashable {
    /// This user's `allow-to` / `deny-to` rules, tried before the server's: the first of them that matches
    /// decides (so a user's `allow-to` can open what the server's rules deny); when none matches, the
    /// server's rules decide. Default: none.
    public var destinationRules: DestinationRules

    /// The most sessions this user may have open, in place of `Configuration.maxSessionsPerUser`.
    /// Default: `nil`, the server's.
    public var maxSessions: Int?

    /// Bytes per second across all of this user's sessions, both directions counted, or `nil` for no cap.
    public var bandwidthLimit: Int?

    /// This user's routes, tried before the server's: a destination none of them matches falls through to
    /// the server's routes. Default: none.
    public var routes: [Route]

    public init(
        destinationRules: DestinationRules = DestinationRules([]), maxSessions: Int? = nil, bandwidthLimit: Int? = nil, routes: [Route] = []
    ) {
        self.destinationRules = destinationRules
        self.routes = routes
        self.maxSessions = maxSessions
        self.bandwidthLimit = bandwidthLimit
    }
}
