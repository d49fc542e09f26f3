extension SOCKSServer {
    /// Where a server is in its life.
    public enum Phase: UInt8, Sendable, CustomStringConvertible {
        /// Created and bound; `run()` has not begun. Clients that connect wait in the listen queue.
        case ready
        /// `run()` is accepting and serving.
        case serving
        /// `shutdown()` was called: no new sessions; open ones finish within the grace period.
        case draining
        /// `run()` has returned.
        case stopped

        public var description: String {
            switch self {
            case .ready: "ready"
            case .serving: "serving"
            case .draining: "draining"
            case .stopped: "stopped"
            }
        }
    }

    /// Where the server is now: `serving` from `run()` until `shutdown()` (then `draining`) or until `run()`
    /// returns (then `stopped`). Readable from any context without waiting.
    public nonisolated var phase: Phase { lifecycle.current }
}
