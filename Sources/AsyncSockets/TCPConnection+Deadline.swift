extension TCPConnection {
    /// A deadline that closes this connection after `duration`, waking whatever waits on it, unless the
    /// returned timer is cancelled first (`hasFired` then tells a timeout from another error).
    ///
    /// An event-loop timer, not a task: what almost every connection meets in time costs no task group, no
    /// child task and no dispatch timer, and a cancelled timer leaves its loop's heap at once.
    package func closing(after duration: Duration) -> LoopTimer {
        eventLoop.schedule(after: duration) { [self] in close() }
    }
}
