/// Lifecycle errors of `SOCKSServer`.
public enum SOCKSServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `run()` was called on a server that is running or has stopped.
    case alreadyStarted
    /// The configuration lists no address to listen on.
    case noListenAddress

    public var description: String {
        switch self {
        case .alreadyStarted: "the server was already started; a SOCKSServer runs once"
        case .noListenAddress: "no listen address configured"
        }
    }
}
