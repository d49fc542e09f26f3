import Glibc
import Testing
import TestSupport

/// Repeats sessions against daemons and checks that everything they held comes back: the descriptor count
/// returns to its baseline and the resident set does not keep growing.
///
/// The baseline is taken after a warm-up that runs the same sessions at twice the concurrency: what a
/// daemon keeps on purpose once it has been busy (heap its allocator holds on to, lazily made threads) is
/// then already in the baseline, and whatever the measured sessions leave behind is not. The one thing a
/// daemon keeps that a warm-up cannot be sure to fill is its pool of idle splice pipes: relays take pipes
/// only while bytes move, so how many the pool holds depends on how many happened to move at once. Pipe
/// ends may therefore exceed the baseline by what the pool may keep (`pooledPipeEndsAllowed`); sockets and
/// every other descriptor must come back exactly.
struct ResourceCheck {
    /// The environment to start a measured daemon with: glibc's allocator tuned so that the resident set
    /// follows what the daemon holds rather than the allocator's high-water mark.
    ///
    /// By default a freed 64 KiB relay buffer stays in the heap as a hole, and small allocations that are
    /// never freed fill such holes first: a leak of a kilobyte per session then stays invisible for
    /// thousands of sessions. Blocks of 16 KiB and more served by `mmap` go back to the kernel when freed,
    /// and one arena (instead of one per thread) keeps the high-water marks of several heaps from adding
    /// their noise. The daemon's behaviour is otherwise the same.
    static let leakRevealingEnvironment = ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=16384:glibc.malloc.arena_max=1"]

    /// A daemon whose resources are counted, and a name for messages.
    struct Subject {
        let name: String
        let daemon: DaemonProcess
        var pid: pid_t { daemon.process.pid }
    }

    let subjects: [Subject]
    /// Sessions run after the warm-up; the warm-up runs `warmUpSessions`.
    var sessions = 1000
    var warmUpSessions = 300
    /// Sessions in flight at once (the warm-up runs twice as many).
    var concurrency = 8
    /// How long the descriptors may take to come back once the last session has ended. Generous: the lead
    /// runs the suite with both cores loaded, and a passing test returns as soon as they are back.
    var descriptorsReturnWithin: Duration = .seconds(20)
    /// How much the anonymous part of the resident set (heap, stacks, anonymous mappings) may grow from the
    /// baseline to the end, in KiB. The file-backed part is left out: it grows when a code path runs for
    /// the first time (a constant 120 KiB of code pages was seen), which is not something sessions hold.
    var residentGrowthLimitKiB: Int

    /// Runs the warm-up, the sessions and the checks; `session(i)` is one session from the client's side.
    func run(sourceLocation: SourceLocation = #_sourceLocation, _ session: @escaping @Sendable (Int) async throws -> Void) async throws {
        let warmUp = await Self.repeatSessions(warmUpSessions, concurrency: concurrency * 2, session)
        #expect(warmUp.failures == 0, "warm-up: \(warmUp.failures) of \(warmUpSessions) sessions failed, the first: \(warmUp.first ?? "")", sourceLocation: sourceLocation)
        var baselines: [ProcessResources] = []
        for subject in subjects { baselines.append(try await Self.settled(subject.pid)) }

        let measured = await Self.repeatSessions(sessions, concurrency: concurrency, session)
        #expect(measured.failures == 0, "\(measured.failures) of \(sessions) sessions failed, the first: \(measured.first ?? "")", sourceLocation: sourceLocation)

        for (subject, baseline) in zip(subjects, baselines) {
            let end = try await Self.expectDescriptorsReturn(of: subject.pid, to: baseline, within: descriptorsReturnWithin, sourceLocation: sourceLocation) { end, pipeAllowance in
                "\(subject.name): \(end.openDescriptors - baseline.openDescriptors) descriptors more than before \(sessions) sessions, \(descriptorsReturnWithin) after the last ended (up to \(pipeAllowance) more pipe ends allowed for pooled pipes; before: \(baseline); after: \(end))"
            }
            // The descriptors are back (or the check above failed): whatever the sessions freed has been freed.
            let growth = end.residentAnonymousKiB - baseline.residentAnonymousKiB
            #expect(
                growth <= residentGrowthLimitKiB || !Self.memoryIsMeasurable,
                "\(subject.name): anonymous RSS grew \(growth) KiB over \(sessions) sessions (\(growth * 1024 / sessions) bytes each), more than \(residentGrowthLimitKiB) KiB (before: \(baseline); after: \(end))",
                sourceLocation: sourceLocation)
            print("[resources] \(subject.name): \(sessions) sessions: before \(baseline); after \(end); anonymous RSS growth \(growth) KiB")
        }
    }

    /// Whether a daemon's resident memory says what it holds: not under AddressSanitizer
    /// (`Scripts/test-asan` sets `SOCKSD_TEST_SANITIZER`), whose quarantine keeps freed memory resident and
    /// whose shadow grows with every allocation. Descriptors are checked exactly either way.
    static var memoryIsMeasurable: Bool {
        getenv("SOCKSD_TEST_SANITIZER") == nil
    }

    /// The pipe ends a daemon may keep in its pool of idle splice pipes: at most 1/16 of its descriptor
    /// limit, and never more than 128 pipes (`SplicePipePool.capacityForThisProcess`).
    static func pooledPipeEndsAllowed(_ pid: pid_t) throws -> Int {
        min(256, try ProcessResources.descriptorLimit(of: pid) / 16)
    }

    /// Polls `pid` for up to `within` until it holds no more descriptors than `baseline` (pooled pipe ends
    /// aside) and records an issue if it still does then, worded by `explain` from the last sample and the
    /// pipe-end allowance; returns the last sample.
    @discardableResult
    static func expectDescriptorsReturn(
        of pid: pid_t, to baseline: ProcessResources, within: Duration, sourceLocation: SourceLocation = #_sourceLocation,
        _ explain: (ProcessResources, Int) -> String
    ) async throws -> ProcessResources {
        let pipeAllowance = try pooledPipeEndsAllowed(pid)
        let end = try await ProcessResources.poll(pid, within: within) { holdsNoMore($0, than: baseline, pipeAllowance) }
        #expect(holdsNoMore(end, than: baseline, pipeAllowance), "\(explain(end, pipeAllowance))", sourceLocation: sourceLocation)
        return end
    }

    /// Whether `sample` holds no more than `baseline`: no more sockets and other descriptors, and at most
    /// `pipeEndsAllowance` more pipe ends.
    static func holdsNoMore(_ sample: ProcessResources, than baseline: ProcessResources, _ pipeEndsAllowance: Int) -> Bool {
        sample.descriptorsOtherThanPipes <= baseline.descriptorsOtherThanPipes && sample.pipes <= baseline.pipes + pipeEndsAllowance
    }

    /// Runs `session(0..<count)`, at most `concurrency` at once; returns how many failed and the first error.
    static func repeatSessions(
        _ count: Int, concurrency: Int, _ session: @escaping @Sendable (Int) async throws -> Void
    ) async -> (failures: Int, first: String?) {
        await withTaskGroup(of: String?.self) { group in
            var failures = 0
            var first: String?
            func tally(_ failure: String??) {
                guard case .some(.some(let failure)) = failure else { return }
                failures += 1
                first = first ?? failure
            }
            for index in 0..<count {
                if index >= concurrency { tally(await group.next()) }
                group.addTask {
                    do {
                        try await session(index)
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
            while let result = await group.next() { tally(result) }
            return (failures, first)
        }
    }

    /// A sample once the descriptor count has stopped moving (the same for half a second, at most 10 s):
    /// the sessions before it have finished their teardown.
    static func settled(_ pid: pid_t) async throws -> ProcessResources {
        var previous = try ProcessResources.of(pid)
        var unchangedSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            let sample = try ProcessResources.of(pid)
            if sample.openDescriptors != previous.openDescriptors { unchangedSince = ContinuousClock.now }
            previous = sample
            if ContinuousClock.now - unchangedSince >= .milliseconds(500) { break }
        }
        return previous
    }
}

extension ResourceCheck {
    /// What holding idle sessions costs a daemon: the growth of the anonymous part of its resident set (heap,
    /// stacks) while `count` sessions that `open` made are held (each having done its bit of work), divided
    /// by `count`, in KiB.
    ///
    /// The daemon should be fresh (a handful of warm-up sessions at most): freed heap left by earlier
    /// sessions would be reused by these and hide what a session costs. The anonymous resident set, not
    /// Pss, is compared: what sessions allocate is private to the daemon, where Pss and RSS grow alike,
    /// while the daemon's Pss of shared libraries moves whenever another test's process starts or exits,
    /// and its file-backed RSS when a code path runs for the first time.
    ///
    /// With `stopAtFirstFailure`, no session is started after one has failed (the ones in flight finish):
    /// for a daemon that has run out of descriptors, where every further attempt would wait for its deadline.
    static func idleCost<Held: Sendable>(
        of pid: pid_t, holding count: Int, concurrency: Int = 8, stopAtFirstFailure: Bool = false,
        open: @escaping @Sendable (Int) async throws -> Held, close: (Held) -> Void
    ) async throws -> (kibPerSession: Double, opened: Int, firstFailure: String?, before: ProcessResources, during: ProcessResources) {
        let before = try await settled(pid)
        var held: [Held] = []
        var firstFailure: String?
        await withTaskGroup(of: Result<Held, any Error>.self) { group in
            func collect(_ result: Result<Held, any Error>?) {
                switch result {
                case .success(let session)?: held.append(session)
                case .failure(let error)?: firstFailure = firstFailure ?? "\(error)"
                case nil: break
                }
            }
            for index in 0..<count {
                if index >= concurrency { collect(await group.next()) }
                if stopAtFirstFailure && firstFailure != nil { break }
                group.addTask {
                    do { return .success(try await open(index)) } catch { return .failure(error) }
                }
            }
            while let result = await group.next() { collect(result) }
        }
        defer { held.forEach(close) }
        // Let the daemon finish setting up what the last sessions asked for before sampling.
        let during = try await settled(pid)
        let perSession = held.isEmpty ? 0 : Double(during.residentAnonymousKiB - before.residentAnonymousKiB) / Double(held.count)
        return (perSession, held.count, firstFailure, before, during)
    }
}
