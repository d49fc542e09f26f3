import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization

/// Datagrams through an upstream proxy over a UoT stream in addressed framing (v2 non-connect, or v1):
/// every datagram keeps its own destination, and names travel unresolved for the upstream to resolve.
///
/// A stream that fails or that the upstream closes (sing-box closes one when a name in it does not
/// resolve) does not end the association: a send that meets the failure throws (the relay counts a dropped
/// datagram), each stream's end is counted once (`stream-ended`), and the next send opens a new stream
/// through the upstream — but not within `reopenBackOff` of a failed open, nor of the end of a stream that
/// lived less than that: an upstream that is down, or that closes every stream at once, is dialled at most
/// once a back-off, not once per datagram. Each stream has a generation, so a failure seen late on an old
/// stream never touches its successor, and its unread bytes are never mistaken for the new stream's.
///
/// Replies are read through each stream's `UoTFrames` (the frame reader the server relay and the client
/// library share): idle, the egress holds no read buffer, only a split frame's bytes and a few KiB of the
/// decoder's capacity.
final class UoTDatagramEgress: ReadableDatagramEgress {
    /// The upstream stream's life.
    private enum StreamState {
        /// Carrying datagrams since `openedAt`.
        case open(generation: Int, stream: UoTClientStream, openedAt: ContinuousClock.Instant)
        /// A send is opening the stream that will have this generation.
        case opening(generation: Int)
        /// The stream of this generation failed; the next send opens another, at once or, after a failed
        /// open or a stream that ended at once, not before the back-off's end.
        case failed(generation: Int, backOff: BackOff?)
        /// `close()` was called: nothing more is sent or received.
        case closed
    }

    /// Until when sends fail at once, and with what.
    private struct BackOff {
        let until: ContinuousClock.Instant
        let error: UoTEgressError
    }

    private struct Shared {
        var stream: StreamState
        /// The receiving task, parked while no stream is open.
        var parkedReceiver: CheckedContinuation<Void, Never>?
    }

    /// What the one receiving task (its `ReplyReader`) keeps between replies.
    private struct Reader {
        /// The stream generation the receiver reads.
        var generation = 0
        /// Whether that stream has ended (the receiver waits for a newer one).
        var ended = false
        /// That stream's frames; `nil` before the first stream is read. A new stream gets a new reader, so
        /// an old stream's unread bytes are never taken for the new one's.
        var frames: UoTFrames.Iterator?
    }

    /// How long sends fail at once after opening a stream failed, or after a stream that lived less than
    /// this ended.
    static let reopenBackOff = Duration.seconds(1)

    private let shared: Mutex<Shared>
    /// Opens the next stream; nil when the egress ends with its first stream (a routed association's, whose
    /// next datagram is routed again: `RoutedDatagramEgress`).
    private let openStream: (@Sendable () async throws -> UoTClientStream)?
    /// Counts each stream's end as a drop of the relay this egress serves.
    private let drop: DropReporter

    /// - Parameters:
    ///   - stream: the first stream, already open (opening it is what tells the client whether the upstream
    ///     can carry its UDP at all).
    ///   - drop: the relay's drop counter, which counts each stream's end (`stream-ended`).
    ///   - reopen: opens the next stream after one fails; nil to end the egress with its stream instead (its
    ///     sends and its replies then throw `DatagramEgressError.upstreamClosed`).
    init(stream: UoTClientStream, drop: DropReporter, reopen: (@Sendable () async throws -> UoTClientStream)?) {
        shared = Mutex(Shared(stream: .open(generation: 0, stream: stream, openedAt: .now), parkedReceiver: nil))
        self.drop = drop
        openStream = reopen
    }

    func sendsWithoutLookup(to destination: SOCKSEndpoint) -> Bool { true }

    func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async throws {
        let (generation, stream) = try await streamForSending()
        do {
            try await stream.send(payload, to: destination)
        } catch let error as UoTProtocolError {
            throw error  // this datagram cannot be framed (too large): the stream itself is fine
        } catch {
            streamFailed(generation)
            throw error
        }
    }

    func makeReplyReader() -> any DatagramReplyReader {
        ReplyReader(egress: self)
    }

    /// Reads the frames of the open stream, and of the next one when it ends: a stream that ends (EOF, a
    /// read error, bytes that are no frame, a source that is no host name) is marked failed, and the reader
    /// waits for the stream that the next send opens.
    private struct ReplyReader: DatagramReplyReader {
        let egress: UoTDatagramEgress
        var current = Reader()

        mutating func next() async throws -> DatagramReply? {
            while true {
                let (generation, stream) = try await egress.streamForReceiving(after: current)
                if generation != current.generation || current.frames == nil {
                    current = Reader(
                        generation: generation,
                        frames: UoTFrames(connection: stream.connection, decoder: UoTStreamDecoder(framing: .addressed)).makeAsyncIterator())
                }
                do {
                    // Not nil: set just above.
                    if let view = try await current.frames?.next() {
                        // The stream's framing is addressed: every frame names its source.
                        guard case .frame(let source?, let payload) = view else { throw UoTProtocolError.invalidDomain }
                        return .datagram(payload: payload, source: source)
                    }
                    // EOF: the upstream closed the stream.
                } catch is UoTProtocolError {
                    // Bytes that are no frame: the stream cannot be trusted any more.
                } catch {
                    if Task.isCancelled { throw error }  // else closed here: replaced after a failed send, or the egress closed
                }
                egress.streamFailed(generation)
                current = Reader(generation: generation, ended: true)
            }
        }
    }

    /// The egress never ends on its own (a stream's end is handled inside: the next send opens another),
    /// so there is nothing to watch.
    var endsOutsideReceive: Bool { false }

    func waitUntilEnded() async {}

    func close() {
        let (stream, receiver) = shared.withLock { shared -> (UoTClientStream?, CheckedContinuation<Void, Never>?) in
            defer {
                shared.stream = .closed
                shared.parkedReceiver = nil
            }
            if case .open(_, let stream, _) = shared.stream { return (stream, shared.parkedReceiver) }
            return (nil, shared.parkedReceiver)
        }
        stream?.close()
        receiver?.resume()
    }

    // MARK: - Streams

    /// The stream to send on: the open one, or a new one when the last failed.
    private func streamForSending() async throws -> (Int, UoTClientStream) {
        enum Next {
            case use(Int, UoTClientStream)
            case open(Int)
            case fail(any Error)
        }
        let now = ContinuousClock.now
        let next = shared.withLock { shared -> Next in
            switch shared.stream {
            case .open(let generation, let stream, _):
                return .use(generation, stream)
            case .opening:
                return .fail(UoTEgressError.reopening)
            case .failed(let generation, let backOff):
                guard openStream != nil else { return .fail(DatagramEgressError.upstreamClosed) }
                if let backOff, now < backOff.until { return .fail(backOff.error) }
                shared.stream = .opening(generation: generation + 1)
                return .open(generation + 1)
            case .closed:
                return .fail(DatagramEgressError.upstreamClosed)
            }
        }
        switch next {
        case .use(let generation, let stream):
            return (generation, stream)
        case .fail(let error):
            throw error
        case .open(let generation):
            let stream: UoTClientStream
            do {
                guard let openStream else { throw DatagramEgressError.upstreamClosed }  // not reached: see `.failed` above
                stream = try await openStream()
            } catch {
                shared.withLock { shared in
                    guard case .opening(generation) = shared.stream else { return }
                    shared.stream = .failed(generation: generation, backOff: BackOff(until: .now + Self.reopenBackOff, error: .upstreamUnavailable))
                }
                throw error
            }
            enum Installed {
                case installed(parkedReceiver: CheckedContinuation<Void, Never>?)
                case closedMeanwhile
            }
            let installed = shared.withLock { shared -> Installed in
                guard case .opening(generation) = shared.stream else { return .closedMeanwhile }
                shared.stream = .open(generation: generation, stream: stream, openedAt: .now)
                defer { shared.parkedReceiver = nil }
                return .installed(parkedReceiver: shared.parkedReceiver)
            }
            switch installed {
            case .installed(let receiver):
                receiver?.resume()
                return (generation, stream)
            case .closedMeanwhile:
                stream.close()
                throw DatagramEgressError.upstreamClosed
            }
        }
    }

    /// Marks the stream of `generation` failed, counts its end and closes it (which wakes a receive waiting
    /// on it), unless a newer stream has replaced it already or the egress is closed. A stream that ended
    /// within `reopenBackOff` of its opening is taken for one the upstream closes at once: the next opens
    /// after a back-off.
    private func streamFailed(_ generation: Int) {
        let now = ContinuousClock.now
        let ended = shared.withLock { shared -> (stream: UoTClientStream, lifetime: Duration)? in
            guard case .open(generation, let stream, let openedAt) = shared.stream else { return nil }
            let lifetime = now - openedAt
            let backOff = lifetime < Self.reopenBackOff ? BackOff(until: now + Self.reopenBackOff, error: .closedAtOnce) : nil
            shared.stream = .failed(generation: generation, backOff: backOff)
            return (stream, lifetime)
        }
        guard let (stream, lifetime) = ended else { return }
        stream.close()
        // A send cancelled because the relay is ending is no end of the upstream's doing.
        guard !Task.isCancelled else { return }
        drop(.streamEnded, "UoT stream \(generation) to the upstream ended after \(lifetime)")
    }

    /// The stream the receiver should read: the one it reads, or, once that has ended, the next one.
    private func streamForReceiving(after reader: Reader) async throws -> (Int, UoTClientStream) {
        try await streamForReceiving(newerThan: reader.ended ? reader.generation : reader.generation - 1)
    }

    /// The open stream of a generation above `generation`; waits while there is none.
    ///
    /// - Throws: `DatagramEgressError.upstreamClosed` once the egress is closed, `CancellationError`.
    private func streamForReceiving(newerThan generation: Int) async throws -> (Int, UoTClientStream) {
        while true {
            try Task.checkCancellation()
            switch shared.withLock({ $0.stream }) {
            case .open(let current, let stream, _) where current > generation:
                return (current, stream)
            case .closed:
                throw DatagramEgressError.upstreamClosed
            case .failed where openStream == nil:
                throw DatagramEgressError.upstreamClosed  // no next stream: the egress has ended
            case .open, .opening, .failed:
                await parkReceiver(untilNewerThan: generation)
            }
        }
    }

    /// Suspends until a newer stream opens, the egress closes, or the task is cancelled.
    private func parkReceiver(untilNewerThan generation: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = shared.withLock { shared -> Bool in
                    // Checked under the lock that the waker and the cancellation handler take too: no wake-up lost.
                    if Task.isCancelled { return true }
                    switch shared.stream {
                    case .open(let current, _, _) where current > generation: return true
                    case .closed: return true
                    case .failed where openStream == nil: return true
                    case .open, .opening, .failed: break
                    }
                    shared.parkedReceiver = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let receiver = shared.withLock { shared in
                defer { shared.parkedReceiver = nil }
                return shared.parkedReceiver
            }
            receiver?.resume()
        }
    }
}

/// Why a datagram could not go through the UoT egress; each is counted as a dropped datagram.
enum UoTEgressError: Error, CustomStringConvertible {
    /// Another datagram is opening the stream that replaces a failed one.
    case reopening
    /// Opening a stream failed a moment ago; the next try comes after a back-off.
    case upstreamUnavailable
    /// The upstream closed the last stream as soon as it was open; the next try comes after a back-off.
    case closedAtOnce

    var description: String {
        switch self {
        case .reopening: "the stream to the upstream is being reopened"
        case .upstreamUnavailable: "the upstream could not be reached a moment ago; retrying shortly"
        case .closedAtOnce: "the upstream closed the last stream at once; reopening shortly"
        }
    }
}
