import CEpoll
import Synchronization

/// The event loops of the process, one per core, and the choice of a loop for a new socket.
public final class EventLoopGroup: Sendable {
    /// The loops, in index order.
    public let loops: [EventLoop]
    private let nextIndex = Atomic<Int>(0)

    init(loopCount: Int) {
        loops = (0..<loopCount).map { EventLoop(index: $0) }
    }

    /// The loop of the calling thread, if it is a loop thread; otherwise the next loop in turn.
    ///
    /// A socket created by a task that runs on a loop stays with that loop, so its events resume the task
    /// on the thread that is already running it.
    public func loopForNewSocket() -> EventLoop {
        let current = Int(cepoll_current_loop())
        if current >= 0 && current < loops.count { return loops[current] }
        return next()
    }

    /// `preferred`, unless another loop carries at least `margin` less load: then the least loaded.
    ///
    /// The margin keeps short-lived work where it is (moving it costs a thread hop) while long-lived work
    /// still spreads over the loops.
    package func leastLoaded(preferring preferred: EventLoop, margin: Int = 2) -> EventLoop {
        var best = preferred
        for loop in loops where loop.load < best.load { best = loop }
        return best.load + margin <= preferred.load ? best : preferred
    }

    /// The next loop, round robin.
    public func next() -> EventLoop {
        loops[nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }
}
