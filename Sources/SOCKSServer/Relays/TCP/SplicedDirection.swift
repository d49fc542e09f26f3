import AsyncSockets
import Glibc

/// One direction of a TCP relay, source → carrier → sink, run by a child task of the relay (`run()`) and
/// driven by the readiness sequence of its two sockets (`TCPConnection.PipeReadiness`).
///
/// The carrier is taken only while bytes move and given back once it is empty and the source has nothing
/// more, so an idle direction holds no pipe and no buffer. The first `copyBeforeSplice` bytes of a direction
/// are copied (`recv`/`send`) through the thread's scratch buffer: a short exchange — a request, a reply, an
/// interactive keystroke — costs the kernel less copied than spliced, takes no pipe from the pool and no
/// heap buffer (only bytes the sink cannot take at once are kept, in a buffer of their size). After that the
/// direction splices through a pipe from the pool (zero copy for bulk transfers), or copies through a large
/// buffer when no pipe can be had (the process is short of descriptors) or the kernel refuses to splice.
/// EOF from the source becomes a half-close of the sink; every byte that reaches the sink is counted, and
/// every byte taken from the source is paid for under the user's bandwidth cap.
struct SplicedDirection {
    /// Which way the bytes go, for the counters: client → target is up.
    enum Way {
        case up, down
    }

    enum Progress {
        /// Waiting for this readiness (of the source for `.readable`, of the sink for `.writable`) before the
        /// direction can go on.
        case blocked(SocketReadiness)
        /// Still moving after a bounded run: the direction should yield before going on.
        case busy
        /// EOF passed on as a half-close.
        case finished
    }

    /// What holds the bytes between source and sink: nothing while idle.
    private enum Carrier {
        case idle
        case pipe(SplicePipe)
        /// Bytes copied in user space; `pending` is what still waits for the sink.
        case copy(buffer: [UInt8], pending: Range<Int>)
    }

    /// A failure of one direction, with the socket it happened on: the relay passes a reset on to the other.
    /// Thrown typed inside the direction (no allocation) and handed back as a value.
    struct Failure: Error {
        let brokenSide: TCPConnection
        let error: SocketError
    }


    /// The relay's two sides and what both directions share (the pool, the counters, the bandwidth cap,
    /// the relay's ending): one reference, so that this value, which the direction's task keeps in its frame
    /// for the relay's life, stays small (a larger frame costs the task a second allocator slab).
    let sides: TCPRelaySides
    let way: Way
    var source: TCPConnection { way == .up ? sides.client : sides.target }
    var sink: TCPConnection { way == .up ? sides.target : sides.client }
    private var pool: SplicePipePool { sides.pool }
    private var counters: RelayCounters { sides.counters }
    private var bandwidth: BandwidthLimiter? { sides.bandwidth }
    private var carrier = Carrier.idle
    /// Loads moved per `advance()` at most: `SplicePipe.roundsBeforeYield`, or 1 under a bandwidth cap so
    /// that each step moves at most what the cap allows (`BandwidthLimiter.allowance`) before it is
    /// consulted again. Computed, not stored: the value this struct is stays small (see `sides`).
    var roundsPerAdvance: Int { bandwidth == nil ? SplicePipe.roundsBeforeYield : 1 }

    /// The size of the large copy buffer, used once a direction has copied its first bytes through the
    /// scratch buffer and no pipe can be had, or the kernel refused to splice.
    static let copyBufferSize = 64 * 1024
    /// How many bytes a direction copies before it splices.
    static let copyBeforeSplice = 64 * 1024
    /// Bytes this direction has copied so far (it splices once they reach `copyBeforeSplice`).
    private var copied = 0
    /// Whether the kernel refused to splice these sockets: the direction copies from then on.
    private var spliceRefused = false

    init(_ way: Way, of sides: TCPRelaySides) {
        self.sides = sides
        self.way = way
    }

    /// Moves bytes until the source's EOF has been passed on, waking each time the socket it waits for is
    /// ready: the body of a relay's child task, counted among the server's live relay tasks while it runs.
    /// Gives its carrier back however it ends. A failure or a cancellation goes to `sides`, as a value: every
    /// relay ends with a close, a reset or a cancellation, and an error thrown out of a task would cost an
    /// allocation each time.
    consuming func run() async {
        counters.relayTaskStarted()
        defer {
            release()
            counters.relayTaskEnded()
        }
        var readiness = source.readiness(pipingTo: sink).makeAsyncIterator()
        // Only the client's reset is looked for while the direction waits to write (see
        // `checkSourceWhileStalled`).
        readiness.watchesSourceWhileWriting = way == .up
        while await readiness.next() != nil {
            if bandwidth != nil, !(await waitedForBandwidth()) { return sides.cancelled() }
            switch step() {
            case .blocked(let need)?: readiness.awaiting = need
            case .busy?: readiness.awaiting = nil
            case .finished?, nil: return
            }
        }
        // The awaited socket was closed here (the idle watchdog, the session ended from outside — a reload
        // that removed its user closes only the client's connection) or the task was cancelled. Either way
        // both sockets close: the other direction may be waiting on the other socket, which would otherwise
        // stay open until its peer sent something.
        if Task.isCancelled { sides.cancelled() }
        sides.closedHere()
    }

    /// `advance()`, with a failure handed to `sides`: how the direction stands, or nil when it failed. A
    /// synchronous function of its own, so that the failure's value takes no room in `run`'s frame, which
    /// the task keeps for the relay's life (a bigger one costs each direction a second allocator slab).
    private mutating func step() -> Progress? {
        do throws(Failure) {
            return try advance()
        } catch {
            sides.failed(error)
            return nil
        }
    }

    /// Under a bandwidth cap, waits on the loop's timer until the cap grants a piece
    /// (`BandwidthLimiter.waitForGrant`): false when the wait was cancelled.
    private func waitedForBandwidth() async -> Bool {
        do { try await bandwidth?.waitForGrant(on: source.eventLoop) } catch { return false }
        return true
    }

    /// Counts bytes that reached the sink.
    private func count(_ bytes: Int) {
        switch way {
        case .up: counters.countUp(bytes)
        case .down: counters.countDown(bytes)
        }
    }

    /// Pays for bytes taken from the source under the bandwidth cap: when they are taken, not when the sink
    /// takes them, so that another direction of the user does not spend the same balance meanwhile (a
    /// carrier may hold what it took for as long as the sink reads slowly).
    private func pay(_ bytes: Int) {
        bandwidth?.consume(bytes)
    }

    /// Moves as much as can move without waiting, up to `roundsPerAdvance` loads.
    ///
    /// - Throws: `Failure` for an error on either socket (a kernel that refuses to splice is no error: the
    ///   direction copies instead).
    private mutating func advance() throws(Failure) -> Progress {
        var rounds = 0
        while true {
            if let blocked = try drain() {
                try checkSourceWhileStalled()
                return blocked
            }
            if rounds == roundsPerAdvance { return .busy }
            rounds += 1
            switch try fill() {
            case .moved:
                // A read that left nothing queued: the next `recv` would fail with EAGAIN, so pass on what
                // was read and wait for the source's next edge instead (one system call less per load).
                if source.inputLooksDrained {
                    if let blocked = try drain() { return blocked }
                    release()
                    return .blocked(.readable)
                }
            case .wouldBlock:
                release()
                return .blocked(.readable)
            case .endOfStream:
                release()
                sink.shutdownWrite()
                return .finished
            }
        }
    }

    /// Reads into the thread's scratch buffer (8 KiB) and writes it on at once, so a young direction's short
    /// exchanges allocate nothing (a heap buffer per wake-up cost an allocation each, a stack buffer of this
    /// size is one too: `withUnsafeTemporaryAllocation` puts more than 1 KiB on the heap here); what the sink
    /// does not take now is kept as the carrier (a heap buffer of just those bytes) for `drain` to finish.
    private mutating func copyThroughScratch() throws(Failure) -> SplicePipe.Step {
        // Nothing keeps a pointer to the scratch bytes past this synchronous call (the bytes left over are
        // copied out), and `recv` writes before anything reads, so it need not be zeroed.
        try ThreadScratch.withBuffer { buffer throws(Failure) in
            let room = UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, readLimit)])
            let read: Int?
            do throws(SocketError) { read = try source.readNow(into: room) } catch { throw Failure(brokenSide: source, error: error) }
            guard let read else { return .wouldBlock }
            guard read > 0 else { return .endOfStream }
            copied += read
            pay(read)
            var written = 0
            while written < read {
                let step: Int?
                do throws(SocketError) {
                    step = try sink.writeNow(UnsafeRawBufferPointer(rebasing: buffer[written..<read]))
                } catch {
                    throw Failure(brokenSide: sink, error: error)
                }
                guard let step else { break }
                count(step)
                written += step
            }
            if written < read {
                carrier = .copy(buffer: Array(buffer[written..<read]), pending: 0..<(read - written))
            }
            return .moved(read)
        }
    }

    /// While the sink takes nothing, the source is not read, so a client's reset would go unseen: the
    /// client→target direction, stalled on a target that does not read, also wakes for the client
    /// (`PipeReadiness.Iterator.watchesSourceWhileWriting`), and a client that reset ends it as a failure,
    /// which resets the target and closes both. A client that aborts is gone: what it sent and the relay
    /// still holds is dropped, as a proxy aborts the server side when its client aborts. The other way is
    /// left as it was: a target that resets after its response keeps what it sent flowing to a slow client,
    /// whose read then meets the reset (Linux hands out queued bytes before the error). A FIN ends nothing
    /// here. The kernel's pending error is asked only once an event said the peer ended.
    private func checkSourceWhileStalled() throws(Failure) {
        guard way == .up, source.peerHasEnded, let error = source.takePendingReset() else { return }
        throw Failure(brokenSide: source, error: error)
    }

    /// The most bytes one read or splice may take now: what the user's bandwidth cap allows, or no limit.
    private var readLimit: Int { bandwidth?.allowance() ?? .max }

    /// Gives the carrier back (the direction has ended, or is idle).
    private mutating func release() {
        if case .pipe(let pipe) = carrier { pool.recycle(pipe) }
        carrier = .idle
    }

    /// Moves what the carrier holds into the sink: `nil` once it is empty, or the readiness to wait for.
    private mutating func drain() throws(Failure) -> Progress? {
        switch carrier {
        case .idle:
            return nil
        case .pipe(let pipe):
            guard pipe.pending > 0 else { return nil }
            let step: SplicePipe.Step
            do { step = try pipe.drain(to: sink) } catch { throw Failure(brokenSide: sink, error: Self.socketError(error)) }
            if case .moved(let moved) = step { count(moved) }
            return pipe.pending > 0 ? .blocked(.writable) : nil
        case .copy(let buffer, var pending):
            while !pending.isEmpty {
                let written: Int?
                do throws(SocketError) { written = try sink.writeNow(buffer[pending]) } catch { throw Failure(brokenSide: sink, error: error) }
                guard let written else {
                    carrier = .copy(buffer: buffer, pending: pending)
                    return .blocked(.writable)
                }
                count(written)
                pending = pending.lowerBound + written..<pending.upperBound
            }
            // The large buffer serves the next fill of this run; a buffer of just the bytes the scratch copy left
            // over (`copyThroughScratch`) is done with.
            carrier = buffer.count == Self.copyBufferSize ? .copy(buffer: buffer, pending: 0..<0) : .idle
            return nil
        }
    }

    /// Takes bytes from the source into the (empty) carrier, taking a carrier first if none is held: none
    /// while the direction is young (`copyThroughScratch`), then a pipe (or the large buffer without one).
    private mutating func fill() throws(Failure) -> SplicePipe.Step {
        if case .idle = carrier {
            if copied < Self.copyBeforeSplice && !spliceRefused { return try copyThroughScratch() }
            if !spliceRefused, let pipe = try? pool.take() {
                carrier = .pipe(pipe)
            } else {
                carrier = .copy(buffer: [UInt8](repeating: 0, count: Self.copyBufferSize), pending: 0..<0)
            }
        }
        switch carrier {
        case .idle:
            return .wouldBlock
        case .pipe(let pipe):
            do {
                let step = try pipe.fill(from: source, upTo: readLimit)
                if case .moved(let filled) = step { pay(filled) }
                return step
            } catch is SplicePipe.Unsupported {
                // Nothing moved through the pipe: give it back and copy from now on.
                pool.recycle(pipe)
                spliceRefused = true
                carrier = .idle
                return try fill()
            } catch {
                throw Failure(brokenSide: source, error: Self.socketError(error))
            }
        case .copy(var buffer, _):
            carrier = .idle  // the buffer is moved out while it is written to, so no copy of it is made
            // Under a bandwidth cap the read goes to the end of the buffer, leaving room for what the cap
            // allows now; the bytes are then moved to the front, where `drain` expects them.
            let start = buffer.count - min(buffer.count, readLimit)
            let read: Int?
            do throws(SocketError) { read = try source.readNow(into: &buffer, at: start) } catch { throw Failure(brokenSide: source, error: error) }
            guard let read else {
                carrier = .copy(buffer: buffer, pending: 0..<0)
                return .wouldBlock
            }
            if start > 0 && read > 0 {
                // Both ranges lie inside the buffer, whose pointer is valid only in this closure, and
                // `copyMemory` allows them to overlap (a memmove).
                buffer.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: read) }
            }
            carrier = .copy(buffer: buffer, pending: 0..<read)
            copied += read
            pay(read)
            return read == 0 ? .endOfStream : .moved(read)
        }
    }

    /// A splice's error as the socket error it is (`SplicePipe` throws nothing else once `Unsupported` is
    /// handled).
    private static func socketError(_ error: any Error) -> SocketError {
        error as? SocketError ?? .failed(operation: "splice", errno: Errno(rawValue: EIO))
    }
}
