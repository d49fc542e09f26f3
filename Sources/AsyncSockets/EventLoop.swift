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
package final class EventLoop: TaskExecutor, SerialExecutor, Sendable {
    private struct Table {
        /// Indexed by file descriptor; fds are small, dense integers.
        var registrations: [IORegistration?] = []
        var nextGeneration: UInt32 = 1
    }

    /// The lifecycle of the loop's thread, as far as its queue is concerned.
    private enum Phase {
        /// Runs jobs and polls.
        case running
        /// Told to stop: runs what is queued, then its thread ends.
        case stopping
        /// The thread has ended (or is about to): new jobs go to the global concurrent executor, so that
        /// a task that still prefers this loop is never stranded.
        case stopped
    }

    private struct JobQueue {
        var jobs: [UnownedJob] = []
        /// The loop is about to sleep, or sleeps, in `epoll_wait` with no timeout.
        var sleeping = false
        /// A wake-up is already on its way; more enqueues need not write the eventfd again.
        var wakePending = false
        var phase = Phase.running
    }

    /// The thread, from its start to its end and its join (or detach).
    private enum ThreadState {
        case notStarted
        /// `exitWaiters` resume when the thread has left its loop; `detached` once nobody will join it.
        case running(pthread_t, detached: Bool, exitWaiters: [CheckedContinuation<Void, Never>])
        /// Left its loop; `pthread_join` still due unless detached.
        case exited(pthread_t, detached: Bool)
        case joined
    }

    /// The position of this loop in its group.
    package let index: Int
    /// The group's users: a socket or timer on this loop takes a use, which keeps the thread running.
    let uses: LoopGroupUses
    /// Long-lived work this loop carries (a server counts its open sessions here), for balancing.
    private let loadCount = Atomic<Int>(0)
    private let epollFD: Int32
    private let wakeFD: Int32
    private let table = Mutex(Table())
    private let queue = Mutex(JobQueue())
    private let thread = Mutex(ThreadState.notStarted)
    /// Pending timers by deadline (µs, monotonic); cancelled ones leave at once.
    private let timers = Mutex(TimerHeap())
    /// How long a busy loop spins at most before it sleeps (µs); 0, no spin. `SpinPolicy` says when it
    /// spins. Read once per turn, so a change applies at once.
    private let spinLimit: Atomic<Int64>
    /// How recent the last event must be for the loop to spin before sleeping (µs).
    private static let spinWindow: Int64 = 1000

    private static func monotonicMicroseconds() -> Int64 {
        MonotonicClock.nanoseconds() / 1000
    }

    /// Jobs run between two polls at most.
    private static let jobsPerTurn = 512
    /// The epoll token of the eventfd: generation 0, which no registration ever gets.
    private static let wakeToken: UInt64 = 0

    /// Makes the loop's epoll instance and eventfd; `start()` starts its thread.
    init(index: Int, uses: LoopGroupUses, spinMicroseconds: Int64) throws(SocketError) {
        self.index = index
        self.uses = uses
        spinLimit = Atomic(spinMicroseconds)
        epollFD = cepoll_create()
        guard epollFD >= 0 else { throw .failed(operation: "epoll_create1", errno: .current) }
        wakeFD = cepoll_eventfd()
        guard wakeFD >= 0 else {
            let error = Errno.current
            Glibc.close(epollFD)
            throw .failed(operation: "eventfd", errno: error)
        }
        // Level-triggered: the eventfd stays readable until drained, so no wake-up is lost.
        guard cepoll_add(epollFD, wakeFD, CEPOLL_IN, Self.wakeToken) == 0 else {
            let error = Errno.current
            Glibc.close(epollFD)
            Glibc.close(wakeFD)
            throw .failed(operation: "epoll_ctl(ADD) of the eventfd", errno: error)
        }
    }

    /// Released when no socket, timer, group or thread refers to the loop any more: the thread has ended
    /// and every socket it watched is gone, so nothing can use the descriptors.
    deinit {
        Glibc.close(epollFD)
        Glibc.close(wakeFD)
    }

    /// Starts the loop's thread (`socksd-loop-N`).
    func start() throws(SocketError) {
        // The thread holds the loop until its loop ends: passed retained, taken back (released) by the
        // thread itself as its last act.
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { context in
            // `context` is the retained loop passed to pthread_create just above, never nil.
            let loop = Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<EventLoop>.fromOpaque(context).release()
            throw .failed(operation: "pthread_create", errno: Errno(rawValue: result))
        }
        thread.withLock { $0 = .running(handle, detached: false, exitWaiters: []) }
    }

    /// Tells the loop to stop once it has run what is queued; `joining: false` detaches its thread.
    func stop(joining: Bool) {
        queue.withLock { queue in
            switch queue.phase {
            case .running: queue.phase = .stopping
            case .stopping, .stopped: break
            }
        }
        cepoll_eventfd_signal(wakeFD)
        guard !joining else { return }
        thread.withLock { state in
            switch state {
            case .running(let handle, false, let waiters):
                pthread_detach(handle)
                state = .running(handle, detached: true, exitWaiters: waiters)
            case .exited(let handle, false):
                pthread_detach(handle)
                state = .joined
            case .notStarted, .running, .exited, .joined:
                break
            }
        }
    }

    /// Returns once the thread has left its loop.
    func waitUntilStopped() async {
        await withCheckedContinuation { continuation in
            let exited = thread.withLock { state -> Bool in
                switch state {
                case .running(let handle, let detached, var waiters):
                    waiters.append(continuation)
                    state = .running(handle, detached: detached, exitWaiters: waiters)
                    return false
                case .notStarted, .exited, .joined:
                    return true
                }
            }
            if exited { continuation.resume() }
        }
    }

    /// Joins the thread once it has left its loop (at once after `waitUntilStopped()`).
    func join() {
        let handle: pthread_t? = thread.withLock { state in
            switch state {
            case .exited(let handle, false), .running(let handle, false, _):
                state = .joined
                return handle
            case .notStarted, .running, .exited, .joined:
                return nil
            }
        }
        if let handle { pthread_join(handle, nil) }
    }

    /// The thread has left its loop: wakes those waiting for that.
    private func exited() {
        let waiters: [CheckedContinuation<Void, Never>] = thread.withLock { state in
            switch state {
            case .running(let handle, let detached, let waiters):
                state = detached ? .joined : .exited(handle, detached: false)
                return waiters
            case .notStarted, .exited, .joined:
                return []
            }
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether the thread has ended and been joined (or detached after its end).
    package var hasStopped: Bool {
        thread.withLock { state in
            switch state {
            case .joined: true
            case .notStarted, .running, .exited: false
            }
        }
    }

    /// Changes the spin bound (µs) from the next turn on.
    func setSpin(microseconds: Int64) {
        spinLimit.store(microseconds, ordering: .relaxed)
    }

    /// How long the loop spins at most before it sleeps (µs); 0 when it never spins.
    package var spinMicroseconds: Int64 { spinLimit.load(ordering: .relaxed) }

    /// The loop whose thread is the calling one, if any.
    static var current: EventLoop? {
        // The pointer is set by `run()` for as long as it runs on this thread, and `run()` holds the loop
        // (its thread owns a reference) until after it clears the pointer: the loop is alive here.
        cepoll_current_loop().map { Unmanaged<EventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    /// A loop for new work (a socket, a timer) with a use of its group taken: the calling thread's loop if
    /// it runs one whose group goes on, otherwise one of the shared loops (started if none run). The caller
    /// gives the use back with `uses.leave()`.
    ///
    /// - Throws: `SocketError` when the shared loops cannot be started.
    static func enterForNewWork() throws(SocketError) -> EventLoop {
        if let current, current.uses.enter() { return current }
        return try SharedEventLoops.enter().next()
    }

    /// `schedule(after:_:)` on the calling thread's loop or a shared one (see `enterForNewWork()`).
    package static func scheduleOnAnyLoop(after delay: Duration, _ action: @escaping @Sendable () -> Void) throws(SocketError) -> LoopTimer {
        let loop = try enterForNewWork()
        defer { loop.uses.leave() }  // the timer holds a use of its own
        return loop.schedule(after: delay, action)
    }

    /// `sleep(for:)` on the calling thread's loop or a shared one (see `enterForNewWork()`).
    nonisolated(nonsending) package static func sleepOnAnyLoop(for duration: Duration) async throws {
        let loop = try enterForNewWork()
        defer { loop.uses.leave() }
        try await loop.sleep(for: duration)
    }

    /// The work this loop carries now, as reported through `adjustLoad(by:)`.
    package var load: Int { loadCount.load(ordering: .relaxed) }

    /// Reports work starting (+1) or ending (-1) on this loop.
    package func adjustLoad(by delta: Int) {
        loadCount.add(delta, ordering: .relaxed)
    }

    /// Whether the calling thread is this loop's.
    package var isCurrent: Bool { cepoll_current_loop() == Unmanaged.passUnretained(self).toOpaque() }

    // MARK: TaskExecutor

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let onLoop = isCurrent
        let (wake, forward) = queue.withLock { queue -> (Bool, Bool) in
            switch queue.phase {
            case .running, .stopping:
                queue.jobs.append(job)
                guard !onLoop, queue.sleeping, !queue.wakePending else { return (false, false) }
                queue.wakePending = true
                return (true, false)
            case .stopped:
                return (false, true)
            }
        }
        if wake { cepoll_eventfd_signal(wakeFD) }
        if forward { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    /// Traps unless the calling thread is this loop's: what `assumeIsolated` and `preconditionIsolated`
    /// ask of an actor whose executor the loop is, when the runtime cannot tell from its own records.
    package func checkIsolated() {
        precondition(isCurrent, "not on the event loop's thread")
    }

    // MARK: Timers

    /// Runs `action` on this loop's thread after `delay`, unless the returned timer is cancelled first.
    package func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> LoopTimer {
        schedule(atMonotonicNanoseconds: MonotonicClock.nanoseconds() + MonotonicClock.nanoseconds(of: delay), action)
    }

    /// `schedule(after:_:)` with an absolute deadline on `MonotonicClock`: several timers set from one base
    /// keep their order however long the caller is held up between them (tests rely on that).
    ///
    /// On a loop whose group has ended (its last user gone, or shut down) the action runs at once, in a
    /// task of its own: nothing would ever fire it there, and whoever waits for it must not wait forever.
    package func schedule(atMonotonicNanoseconds deadline: Int64, _ action: @escaping @Sendable () -> Void) -> LoopTimer {
        guard uses.enter() else {
            let timer = LoopTimer(deadline: deadline / 1000, loop: self, holdsUse: false, action: action)
            Task.detached { timer.fire() }
            return timer
        }
        let timer = LoopTimer(deadline: deadline / 1000, loop: self, holdsUse: true, action: action)
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
        cepoll_set_current_loop(Unmanaged.passUnretained(self).toOpaque())
        _ = cepoll_set_thread_name("socksd-loop-\(index)")
        let executor = asUnownedTaskExecutor()
        // Jobs run isolated to the loop as a serial executor as well: the loop's thread runs one job at a
        // time, so every job has the loop to itself, and actors whose executor is the loop need no hop.
        let serialExecutor = asUnownedSerialExecutor()
        let capacity = 256
        var events = [cepoll_event](repeating: cepoll_event(), count: capacity)
        var spin = SpinPolicy(limit: spinLimit.load(ordering: .relaxed), window: Self.spinWindow)
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

            let (mayBlock, ending) = queue.withLock { queue -> (Bool, Bool) in
                switch queue.phase {
                case .stopping where queue.jobs.isEmpty:
                    queue.phase = .stopped
                    return (false, true)
                case .running, .stopping, .stopped:
                    queue.sleeping = queue.jobs.isEmpty
                    return (queue.sleeping, false)
                }
            }
            if ending { break }
            spin.limit = spinLimit.load(ordering: .relaxed)
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
                // Only EBADF, EFAULT or EINVAL remain, and the loop's own descriptor and buffer rule them
                // out unless the process closed a descriptor it does not own (our epoll instance) or its
                // memory is corrupt: no state to go on from, as with any broken invariant.
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
                    writable: failed || event.events & CEPOLL_OUT != 0,
                    // Not `EPOLLHUP` alone: a socket registered before its connect reports it while unconnected.
                    // A FIN, and a reset (which shuts both sides), both bring `EPOLLRDHUP`.
                    peerEnded: event.events & CEPOLL_RDHUP != 0)
            }
        }
        // Stopped: new jobs already go to the global executor. Pending timers (only an embedder's group
        // shut down under them has any) run now, since nothing else would ever run them.
        cepoll_set_current_loop(nil)
        let pending = timers.withLock { heap -> [LoopTimer] in
            var pending: [LoopTimer] = []
            while let timer = heap.popFirst() { pending.append(timer) }
            return pending
        }
        for timer in pending { timer.fire() }
        exited()
    }
}
