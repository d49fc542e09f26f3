import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// The server side of one UDP-over-TCP stream (sing-box UoT v1/v2): frames from the client become
/// datagrams (decapsulate), datagrams from the egress become frames (encapsulate).
///
/// The v2 request header is read first, under a deadline of its own (it belongs to the handshake), so both
/// loops start knowing the framing and share no state. Only the encapsulate loop writes to the stream, so
/// frames never interleave. A malformed stream closes that stream alone; a name that is no host name, or
/// that does not resolve, drops only its own (fully consumed) frame. The idle timeout is a loop-timer
/// watchdog. Frames are read through `UoTFrames` (the reader the client library and the upstream egress
/// share), replies through the egress's `replies`, handed on by `EgressForwarder.relayReplies` through a
/// `UoTClientSink`. While nothing moves the relay holds no 64 KiB buffer: both readers borrow one from
/// the pool only for as long as they handle bytes.
struct UoTServerRelay {
    enum Ending: Sendable, CustomStringConvertible {
        case clientClosed
        case idle
        case headerTimedOut
        case malformed(UoTProtocolError)
        case failed(String)

        var description: String {
            switch self {
            case .clientClosed: "client-closed"
            case .idle: "udp-timeout"
            case .headerTimedOut: "handshake-timeout"
            case .malformed(let error): "malformed-uot(\(error))"
            case .failed(let reason): "relay-error(\(reason))"
            }
        }
    }

    let connection: TCPConnection
    let version: UoTVersion
    /// Bytes the client sent right after its CONNECT request (the reference client glues the header to its
    /// first frame, and a client may not wait for the reply).
    let earlyData: [UInt8]
    let forwarder: EgressForwarder
    let idleTimeout: Duration
    /// The largest frame payload accepted; larger frames close the stream.
    let maximumPayload: Int
    /// For v2, the header's deadline, running (it closes the connection when it fires): cancelled once the
    /// header is in. `nil` for v1, which has no header.
    let headerDeadline: LoopTimer?

    var egress: any DatagramEgress { forwarder.egress }
    var counters: RelayCounters { forwarder.counters }

    func run() async -> Ending {
        defer {
            headerDeadline?.cancel()
            egress.close()
            connection.close()
        }
        var frames = makeFrames()
        var connectDestination: SOCKSEndpoint?
        var framing = UoTFraming.addressed
        if version == .v2 {
            switch await readHeader(from: &frames) {
            case .header(let header):
                framing = header.framing
                connectDestination = header.isConnect ? header.destination : nil
            case .ended(let ending):
                return ending
            }
        }
        headerDeadline?.cancel()

        let watchdog = IdleWatchdog(loop: connection.eventLoop, counters: counters, timeout: idleTimeout) { [connection, forwarder] in
            connection.close()
            forwarder.egress.close()
        }
        defer { watchdog.stop() }
        // This task decapsulates (reading the stream is also what sees the client hang up); the children
        // encapsulate and, when the egress can end by itself, wait for that. One task fewer per stream than
        // a child for each loop: a task's frames cost about 4 KiB of an idle stream (release build). A
        // child that ends closes the connection, which ends this task's read; the first ending recorded
        // is what the stream says.
        let first = FirstOutcome<Ending>()
        await withDiscardingTaskGroup { [connection, forwarder, framing] group in
            // The children take the fields they use, not a copy of this relay each.
            group.addTask {
                first.record(await Self.encapsulate(framing: framing, to: connection, from: forwarder))
                connection.close()
            }
            if egress.endsOutsideReceive {
                group.addTask {
                    await forwarder.egress.waitUntilEnded()
                    first.record(Task.isCancelled ? .clientClosed : .failed("upstream ended the stream"))
                    connection.close()
                }
            }
            first.record(await decapsulate(frames: &frames, connectDestination: connectDestination, lookupsIn: &group))
            group.cancelAll()
        }
        let ending = first.first ?? .clientClosed
        return watchdog.hasExpired ? .idle : ending
    }

    // The stream's reader and its v2 header are made and read in functions of their own, never inlined:
    // `run()` lies under the relay for the stream's life, and a task keeps the allocator slabs of its
    // deepest stack until it ends. With them inlined (the decoder twice, the header's error paths) its
    // frame was 960 bytes, and an idle stream's session task kept a slab more.

    /// The reader of the client's frames, starting with the bytes that came with the request.
    @inline(never)
    private func makeFrames() -> UoTFrames.Iterator {
        var decoder = UoTStreamDecoder(serverOf: version, maximumPayload: maximumPayload)
        decoder.receive(earlyData)
        return UoTFrames(connection: connection, decoder: decoder).makeAsyncIterator()
    }

    /// What reading a v2 stream's request header came to.
    private enum HeaderRead {
        case header(UoTRequestHeader)
        case ended(Ending)
    }

    /// A v2 stream's request header: its decoder gives the header first, or nothing.
    @inline(never)
    private func readHeader(from frames: inout UoTFrames.Iterator) async -> HeaderRead {
        do {
            guard case .header(let header)? = try await frames.next() else { return .ended(.clientClosed) }
            return .header(header)
        } catch let error as UoTProtocolError {
            return .ended(.malformed(error))
        } catch {
            if headerDeadline?.hasFired == true { return .ended(.headerTimedOut) }
            return .ended(.failed("\(error)"))
        }
    }

    /// Frames from the client, read from the stream's `UoTFrames` (its payloads are forwarded where they
    /// lie in the reader's buffer), become datagrams. Those that wait for a name lookup are sent from
    /// child tasks in `lookups`, the stream's own group.
    private func decapsulate(
        frames: inout UoTFrames.Iterator, connectDestination: SOCKSEndpoint?, lookupsIn lookups: inout DiscardingTaskGroup
    ) async -> Ending {
        do {
            while let view = try await frames.next() {
                switch view {
                case .header:
                    continue
                case .frame(let endpoint, let payload):
                    guard let destination = connectDestination ?? endpoint else { continue }
                    await forwarder.forward(payload, to: destination, lookupsIn: &lookups)
                case .unaddressableFrame(let name, _, _):
                    forwarder.drop(.malformed, "to \(SOCKSLogger.escapingFieldValue(name)): not a host name")
                }
            }
            return .clientClosed
        } catch let error as UoTProtocolError {
            return .malformed(error)
        } catch {
            return Task.isCancelled ? .clientClosed : .failed("\(error)")
        }
    }

    private static func encapsulate(framing: UoTFraming, to connection: TCPConnection, from forwarder: EgressForwarder) async -> Ending {
        var sink = UoTClientSink(connection: connection, framing: framing, drop: forwarder.drop)
        do {
            try await forwarder.relayReplies(to: &sink)
            return .failed("the egress's replies ended")
        } catch {
            return Task.isCancelled ? .clientClosed : .failed("\(error)")
        }
    }
}
