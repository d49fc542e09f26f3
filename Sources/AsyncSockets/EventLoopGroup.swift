import Synchronization

/// Event loops, one thread each, and the choice of a loop for a new socket.
///
/// Without a group of its own, a server or a client uses the shared loops, which start with the first
/// user and stop when the last one is done. An embedder that wants the threads' lifetime in its own hands
/// makes a group, passes it (`SOCKSServer(configuration:eventLoops:)`), and shuts it down when the servers
/// using it have returned:
///
/// ```swift
/// let loops = try EventLoopGroup(loopCount: 2)
/// let server = try SOCKSServer(configuration: configuration, eventLoops: loops)
/// try await server.run()
/// await loops.shutdown()   // the threads have ended when this returns
/// ```
public final class EventLoopGroup: Sendable {
    /// Running until `shutdown()`, which stops the loops once and waits for them.
    private enum Phase {
        case running
        case shutDown
    }

    /// The loops, in index order.
    package let loops: [EventLoop]
    /// The group's users; the loops share it, so that a socket can take a use of the group it joins.
    let uses: LoopGroupUses
    private let nextIndex = Atomic<Int>(0)
    private let phase = Mutex(Phase.running)

    /// Starts `loopCount` loops (threads named `socksd-loop-N`) that run until `shutdown()`.
    ///
    /// - Parameters:
    ///   - loopCount: the threads; by default one per core, at most 16.
    ///   - spinMicroseconds: how long a loop that was busy within the last millisecond polls before it
    ///     sleeps (at most 10,000). A spin saves a sleep and a wake-up when the next event comes within it,
    ///     which pays on a virtual machine with idle cores; 0, the default, never spins.
    /// - Throws: `SocketError` when a loop cannot be made: no descriptor left for epoll or its eventfd, or
    ///   no thread.
    public convenience init(loopCount: Int? = nil, spinMicroseconds: Int = 0) throws(SocketError) {
        try self.init(
            loopCount: loopCount ?? SharedEventLoops.defaultLoopCount, spinMicroseconds: spinMicroseconds, endsWithLastUse: false)
    }

    /// - Parameter endsWithLastUse: the shared group (`SharedEventLoops`), whose first use is its creator's;
    ///   otherwise the owner holds a use until `shutdown()`.
    init(loopCount: Int, spinMicroseconds: Int, endsWithLastUse: Bool) throws(SocketError) {
        let uses = LoopGroupUses(initialUses: 1, endsWithLastUse: endsWithLastUse)
        var loops: [EventLoop] = []
        let spin = Int64(max(0, min(spinMicroseconds, 10_000)))
        do {
            for index in 0..<max(1, loopCount) {
                let loop = try EventLoop(index: index, uses: uses, spinMicroseconds: spin)
                loops.append(loop)
                try loop.start()
            }
        } catch {
            // Those already running stop again; nothing uses them yet.
            for loop in loops { loop.stop(joining: true) }
            for loop in loops { loop.join() }
            throw error
        }
        self.loops = loops
        self.uses = uses
    }

    /// Stops the loops and waits until their threads have ended (joined).
    ///
    /// Call it once nothing uses the group any more: after the servers made with it have returned from
    /// `run()` and their connections are closed. A socket still open on it gets no more events, and a
    /// socket made on it afterwards fails. Pending timers run their actions as the loops stop. Safe to call
    /// more than once, from anywhere (also from a task on one of its loops).
    public func shutdown() async {
        let first = phase.withLock { phase -> Bool in
            switch phase {
            case .running:
                phase = .shutDown
                return true
            case .shutDown:
                return false
            }
        }
        if first {
            uses.end()
            uses.leave()  // the owner's use
            stop(joining: true)
        }
        // The waiting runs off the loops: a task that runs on one of them must not wait for its own thread.
        await withTaskExecutorPreference(globalConcurrentExecutor) {
            for loop in loops { await loop.waitUntilStopped() }
        }
        for loop in loops { loop.join() }
    }

    /// The group's users now: open sockets, pending timers, servers, and the owner of an embedder's group.
    package var users: Int { uses.current }

    /// Whether `shutdown()` has been called.
    var isShutDown: Bool {
        phase.withLock { phase in
            switch phase {
            case .running: false
            case .shutDown: true
            }
        }
    }

    /// Tells every loop to stop once it has run the jobs queued for it. `joining: false` detaches the
    /// threads (the shared group may end on one of its own threads, which cannot join itself).
    func stop(joining: Bool) {
        for loop in loops { loop.stop(joining: joining) }
    }

    /// Changes how long the loops spin (µs) from their next turn on.
    func setSpin(microseconds: Int) {
        for loop in loops { loop.setSpin(microseconds: Int64(max(0, min(microseconds, 10_000)))) }
    }

    /// The loop of the calling thread, if it is one of this group's; otherwise the next loop in turn.
    ///
    /// A socket created by a task that runs on a loop stays with that loop, so its events resume the task
    /// on the thread that is already running it.
    func loopForNewSocket() -> EventLoop {
        if let current = EventLoop.current, current.uses === uses { return current }
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
    package func next() -> EventLoop {
        loops[nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }
}
