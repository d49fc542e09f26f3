extension SOCKSServer {
    /// How a running server is asked to stop accepting.
    enum StopRequest: Sendable {
        /// `shutdown()`: close the listeners, drain for the configured grace period.
        case shutDown
        /// `handOver(drainingFor:)`: let go of the listeners (another process accepts on them now), drain
        /// for the given time.
        case handOver(Duration)
    }
}
