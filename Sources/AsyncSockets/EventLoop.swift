import CEpoll
import Foundation
import Glibc
import Synchronization

/// One thread that waits in `epoll_wait` for its sockets and runs the tasks that prefer it.
///
/// Every socket is registered with one loop, once, edge-triggered for both directions. The loop is also a
/// `TaskExecutor`: a task started with `executorPreference: loop` (as every server session is) runs on the
/// loop's thread, so when one of its sockets becomes ready, the loop resumes it right there: no other
/// thread has to wake up. Tasks without that preference work too; their resumptions just cross threads.
///
/// Each turn the loop runs the jobs queued for it, then polls epoll (without sleeping while jobs remain)
/// and turns events into `IORegistration.signal` calls. Other threads that queue a job wake a sleeping
/// loop through an `eventfd`.
///
/// The loop is a `SerialExecutor` too: an actor that names it as its executor (a server session names its
/// connection's loop) is isolated to the loop's thread. Every job runs isolated to the loop, so such an
/// actor's code runs inline when a task of the loop calls it, and a resumption inside it comes back as a
/// plain job of the loop's queue; a default actor there allocates a job to schedule itself each time it
/// wakes (about 5 per CONNECT session, measured with heaptrack).
public final class EventLoop: TaskExecutor, SerialExecutor, Sendable {
    /// The process-wide loops, one per core.
    public static let group = EventLoopGroup(loopCount: max(1, min(ProcessInfo.processInfo.activeProcessorCount, 16)))

    private struct Table {
        /// Indexed by file descriptor; fds are small, dense integers.
        var registrations: [IORegistration?] = []
        var nextGeneration: UInt32 = 1
    }

    private struct JobQueue {
        var jobs: [UnownedJob] = []
        /// The loop is about to sleep, or sleeps, in `epoll_wait` with no timeout.
        var sleeping = false
        /// A wake-up is already on its way; more enqueues need not write the eventfd again.
        var wakePending = false
    }

    /// The position of this loop in its group, which is also its thread-local identity.
    public let index: Int
    /// Long-lived work this loop carries (a server counts its open sessions here), for balancing.
    private let loadCount = Atomic<Int>(0)
    private let epollFD: Int32
    private let wakeFD: Int32
    private let table = Mutex(Table())
    private let queue = Mutex(JobQueue())
    /// Pending timers by deadline (µs, monotonic); cancelled ones leave at once.
    private let timers = Mutex(TimerHeap())
    /// How recent the last event must be for the loop to spin before sleeping (µs).
    private static let spinWindow: Int64 = 1000
    /// How long a busy loop spins at most before it sleeps (µs): `SOCKSD_SPIN_MICROSECONDS` from the
    /// environment (0 turns spinning off, for hosts where every cycle is shared), default 50. `SpinPolicy`
    /// says when it spins.
    private static let spinLimit: Int64 = {
        guard let text = getenv("SOCKSD_SPIN_MICROSECONDS").map({ String(cString: $0) }), let value = Int64(text) else { return 50 }
        return max(0, min(value, 10_000))
    }()

    private static func monotonicMicroseconds() -> Int64 {
        MonotonicClock.nanoseconds() / 1000
    }

    /// Jobs run between two polls at most.
    private static let jobsPerTurn = 512
    /// The epoll token of the eventfd: generation 0, which no registration ever gets.
    private static let wakeToken: UInt64 = 0

    init(index: Int) {
        self.index = index
        epollFD = cepoll_create()
        wakeFD = cepoll_eventfd()
        guard epollFD >= 0, wakeFD >= 0 else { fatalError("cannot create the event loop: \(Errno.current)") }
        // Level-triggered: the eventfd stays readable until drained, so no wake-up is lost.
        guard cepoll_add(epollFD, wakeFD, CEPOLL_IN, Self.wakeToken) == 0 else {
            fatalError("cannot register the event loop's eventfd: \(Errno.current)")
        }
        let thread = Thread { [self] in self.run() }
        thread.name = "socksd-loop-\(index)"
        thread.start()
    }

    /// The work this loop carries now, as reported through `adjustLoad(by:)`.
    package var load: Int { loadCount.load(ordering: .relaxed) }

    /// Reports work starting (+1) or ending (-1) on this loop.
    package func adjustLoad(by delta: Int) {
        loadCount.add(delta, ordering: .relaxed)
    }

    /// Whether the calling thread is this loop's.
    public var isCurrent: Bool { Int(cepoll_current_loop()) == index }

    // MARK: TaskExecutor

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let onLoop = isCurrent
        let wake = queue.withLock { queue in
            queue.jobs.append(job)
            guard !onLoop, queue.sleeping, !queue.wakePending else { return false }
            queue.wakePending = true
            return true
        }
        if wake { cepoll_eventfd_signal(wakeFD) }
    }

    /// Traps unless the calling thread is this loop's: what `assumeIsolated` and `preconditionIsolated`
    /// ask of an actor whose executor the loop is, when the runtime cannot tell from its own records.
    public func checkIsolated() {
        precondition(isCurrent, "not on the event loop's thread")
    }

    // MARK: Timers

    /// Runs `action` on this loop's thread after `delay`, unless the returned timer is cancelled first.
    package func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> LoopTimer {
        schedule(atMonotonicNanoseconds: MonotonicClock.nanoseconds() + MonotonicClock.nanoseconds(of: delay), action)
    }

    /// `schedule(after:_:)` with an absolute deadline on `MonotonicClock`: several timers set from one base
    /// keep their order however long the caller is held up between them (tests rely on that).
    package func schedule(atMonotonicNanoseconds deadline: Int64, _ action: @escaping @Sendable () -> Void) -> LoopTimer {
        let timer = LoopTimer(deadline: deadline / 1000, loop: self, action: action)
        let wake = timers.withLock { heap in
            heap.insert(timer)
            return heap.first === timer  // a new earliest deadline: a sleeping loop must recompute its timeout
        }
        if wake && !isCurrent {
            let notify = queue.withLock { queue in
                guard queue.sleeping, !queue.wakePending else { return false }
                queue.wakePending = true
                return true
            }
            if notify { cepoll_eventfd_signal(wakeFD) }
        }
        return timer
    }

    /// Takes a cancelled timer out of the heap (a sleeping loop may wake early once; it finds nothing due).
    func removeTimer(_ timer: LoopTimer) {
        timers.withLock { $0.remove(timer) }
    }

    /// Suspends for `duration`, woken by this loop's timer: no dispatch timer, and no new descriptor, so it
    /// works even when the process has none left (the accept back-off sleeps this way).
    nonisolated(nonsending) package func sleep(for duration: Duration) async throws {
        let wake = OneShot<Void>()
        let timer = schedule(after: duration) { wake.resume(with: .success(())) }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { wake.install($0) }
        } onCancel: {
            timer.cancel()
            wake.resume(with: .failure(CancellationError()))
        }
    }

    /// Milliseconds until the earliest pending timer (rounded up), or -1 when there is none.
    private func nextTimerTimeout() -> Int32 {
        timers.withLock { heap in
            guard let first = heap.first else { return -1 }
            let remaining = first.deadline - Self.monotonicMicroseconds()
            return remaining <= 0 ? 0 : Int32(min((remaining + 999) / 1000, Int64(Int32.max)))
        }
    }

    /// Fires every timer whose deadline has passed (outside the lock: actions may schedule timers).
    private func fireExpiredTimers() {
        let now = Self.monotonicMicroseconds()
        while let timer = timers.withLock({ heap -> LoopTimer? in
            guard let first = heap.first, first.deadline <= now else { return nil }
            return heap.popFirst()
        }) {
            timer.fire()
        }
    }

    // MARK: Registration

    /// Registers `fd` for edge-triggered readiness in both directions.
    ///
    /// - Parameter exclusive: `EPOLLEXCLUSIVE`, for a listening socket that every loop watches: a new
    ///   connection then wakes one loop, not all of them (the others would only find `EAGAIN`).
    func register(_ fd: Int32, exclusive: Bool = false) throws(SocketError) -> IORegistration {
        let registration = table.withLock { table in
            let generation = table.nextGeneration
            table.nextGeneration &+= 1
            if table.nextGeneration == 0 { table.nextGeneration = 1 }
            let registration = IORegistration(fd: fd, generation: generation)
            let slot = Int(fd)
            if slot >= table.registrations.count {
                table.registrations.append(contentsOf: repeatElement(nil, count: slot - table.registrations.count + 1))
            }
            table.registrations[slot] = registration
            return registration
        }
        // EPOLLEXCLUSIVE accepts only IN, OUT, WAKEUP and ET beside it.
        let events = exclusive ? CEPOLL_IN | CEPOLL_ET | CEPOLL_EXCLUSIVE : CEPOLL_IN | CEPOLL_OUT | CEPOLL_RDHUP | CEPOLL_ET
        if cepoll_add(epollFD, fd, events, registration.token) != 0 {
            let error = Errno.current
            table.withLock { table in
                if table.registrations[Int(fd)] === registration { table.registrations[Int(fd)] = nil }
            }
            throw .failed(operation: "epoll_ctl(ADD)", errno: error)
        }
        return registration
    }

    /// Removes a registration. Must run before the fd is closed, so that a new socket that reuses the fd
    /// number can never be deregistered by mistake.
    ///
    /// - Parameter removingFromEpoll: `false` when closing the fd will remove it anyway (no other descriptor
    ///   refers to the socket), which saves a system call per socket.
    func deregister(_ registration: IORegistration, removingFromEpoll: Bool = true) {
        table.withLock { table in
            let slot = Int(registration.fd)
            if slot < table.registrations.count, table.registrations[slot] === registration {
                table.registrations[slot] = nil
            }
        }
        if removingFromEpoll { _ = cepoll_delete(epollFD, registration.fd) }
    }

    // MARK: The loop

    private func run() {
        cepoll_set_current_loop(Int32(index))
        let executor = asUnownedTaskExecutor()
        // Jobs run isolated to the loop as a serial executor as well: the loop's thread runs one job at a
        // time, so every job has the loop to itself, and actors whose executor is the loop need no hop.
        let serialExecutor = asUnownedSerialExecutor()
        let capacity = 256
        var events = [cepoll_event](repeating: cepoll_event(), count: capacity)
        var spin = SpinPolicy(limit: Self.spinLimit, window: Self.spinWindow)
        // Jobs are swapped out with this spare, so a turn allocates nothing.
        var batch: [UnownedJob] = []
        batch.reserveCapacity(256)
        while true {
            // Run what is queued, including what those jobs queue in turn, up to a bound: a session's
            // whole exchange often completes here without another poll. Past the bound the sockets get a
            // look, so that busy tasks cannot starve I/O.
            var ran = 0
            while ran < Self.jobsPerTurn {
                queue.withLock { swap(&$0.jobs, &batch) }
                if batch.isEmpty { break }
                for job in batch { job.runSynchronously(isolatedTo: serialExecutor, taskExecutor: executor) }
                ran += batch.count
                batch.removeAll(keepingCapacity: true)
            }

            let mayBlock = queue.withLock { queue in
                queue.sleeping = queue.jobs.isEmpty
                return queue.sleeping
            }
            var count: Int32 = 0
            if mayBlock && spin.shouldSpin(at: Self.monotonicMicroseconds()) {
                // Busy lately: poll without sleeping for a moment first, yielding the core between polls
                // to any thread that wants it. A reply that lands within the spin saves a sleep and a
                // wake-up, which on a virtual machine cost more than the spin.
                let spinUntil = Self.monotonicMicroseconds() + spin.limit
                var jobsArrived = false
                repeat {
                    count = events.withUnsafeMutableBufferPointer { cepoll_wait(epollFD, $0.baseAddress, Int32(capacity), 0) }
                    if count != 0 { break }
                    jobsArrived = !queue.withLock { $0.jobs.isEmpty }
                    if jobsArrived { break }
                    sched_yield()
                } while Self.monotonicMicroseconds() < spinUntil
                spin.spinEnded(foundEvents: count != 0 || jobsArrived)
            }
            if count == 0 {
                let timeout = mayBlock && queue.withLock({ $0.jobs.isEmpty }) ? nextTimerTimeout() : 0
                count = events.withUnsafeMutableBufferPointer {
                    cepoll_wait(epollFD, $0.baseAddress, Int32(capacity), timeout)
                }
            }
            if mayBlock { queue.withLock { $0.sleeping = false; $0.wakePending = false } }
            if count < 0 {
                if Errno.current == .interrupted { continue }
                fatalError("epoll_wait failed: \(Errno.current)")
            }
            if count > 0 { spin.noteActivity(at: Self.monotonicMicroseconds()) }
            fireExpiredTimers()
            for event in events.prefix(Int(count)) {
                if event.data == Self.wakeToken {
                    cepoll_eventfd_drain(wakeFD)
                    continue
                }
                let fd = Int(UInt32(truncatingIfNeeded: event.data))
                let registration: IORegistration? = table.withLock { table in
                    guard fd < table.registrations.count, let registration = table.registrations[fd],
                          registration.token == event.data else { return nil }  // stale: the fd was reused
                    return registration
                }
                guard let registration else { continue }
                let failed = event.events & (CEPOLL_ERR | CEPOLL_HUP) != 0
                registration.signal(
                    readable: failed || event.events & (CEPOLL_IN | CEPOLL_RDHUP) != 0,
                    writable: failed || event.events & CEPOLL_OUT != 0)
            }
        }
    }
}
