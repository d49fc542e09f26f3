/// Why an operation on an async socket failed.
public enum SocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer reset or abandoned the connection (`ECONNRESET`, `EPIPE`).
    case disconnected
    /// The operation did not finish before its deadline.
    case timedOut
    /// The socket was closed, locally, while or before the operation ran.
    case closed
    /// A name could not be resolved to any address.
    case nameNotFound(String)
    /// Name resolution failed for another reason (the resolver's own message).
    case resolutionFailed(host: String, reason: String)
    /// A system call failed.
    case failed(operation: String, errno: Errno)
    /// The socket was to join an `EventLoopGroup` that has been shut down.
    case eventLoopsShutDown

    public var description: String {
        switch self {
        case .disconnected: "connection reset by peer"
        case .timedOut: "timed out"
        case .closed: "socket closed"
        case .nameNotFound(let host): "name not found: \(host)"
        case .resolutionFailed(let host, let reason): "cannot resolve \(host): \(reason)"
        case .failed(let operation, let errno): "\(operation) failed: \(errno) (errno \(errno.rawValue))"
        case .eventLoopsShutDown: "the event loop group has been shut down"
        }
    }

    /// The underlying error number, if a system call failed.
    public var errno: Errno? {
        if case .failed(_, let errno) = self { return errno }
        return nil
    }

    /// Maps a failed call's error number: resets become `.disconnected`, everything else `.failed`.
    static func from(_ errno: Errno, operation: String) -> SocketError {
        switch errno {
        case .connectionReset, .brokenPipe: .disconnected
        default: .failed(operation: operation, errno: errno)
        }
    }
}
