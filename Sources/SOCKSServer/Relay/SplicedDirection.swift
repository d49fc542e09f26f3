import AsyncSockets

/// One direction of a relay driven by `TCPRelay.runSpliced`: source → pipe → sink, in nonblocking steps.
struct SplicedDirection {
    enum Progress {
        /// Waiting for this readiness before the direction can go on.
        case blocked((TCPConnection, SocketReadiness))
        /// Still moving after a bounded run: the relay should yield before going on.
        case busy
        /// EOF passed on as a half-close.
        case finished
    }

    let source: TCPConnection
    let sink: TCPConnection
    let pipe: SplicePipe
    let count: @Sendable (Int) -> Void
    private(set) var finished = false
    private(set) var movedAny = false

    init(source: TCPConnection, sink: TCPConnection, pipe: SplicePipe, count: @escaping @Sendable (Int) -> Void) {
        self.source = source
        self.sink = sink
        self.pipe = pipe
        self.count = count
    }

    /// Moves as much as can move without waiting, up to `SplicePipe.roundsBeforeYield` pipe loads.
    mutating func advance() throws -> Progress {
        var rounds = 0
        while true {
            if pipe.pending > 0 {
                switch try pipe.drain(to: sink) {
                case .moved(let moved):
                    count(moved)
                    continue
                case .wouldBlock, .endOfStream:
                    return .blocked((sink, .writable))
                }
            }
            if rounds == SplicePipe.roundsBeforeYield { return .busy }
            rounds += 1
            switch try pipe.fill(from: source) {
            case .moved:
                movedAny = true
            case .wouldBlock:
                return .blocked((source, .readable))
            case .endOfStream:
                sink.shutdownWrite()
                finished = true
                return .finished
            }
        }
    }
}
