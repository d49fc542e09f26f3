import AsyncSockets
import SOCKSProtocol

/// The server side of one UDP-over-TCP stream (sing-box UoT v1/v2): frames from the client become
/// datagrams (decapsulate), datagrams from the egress become frames (encapsulate).
///
/// The v2 request header is read first, so both loops start knowing the framing and share no state. Only
/// the encapsulate loop writes to the stream, so frames never interleave. A malformed stream closes that
/// stream alone; a name that does not resolve drops only its own (fully consumed) frame.
struct UoTServerRelay {
    enum Ending: Sendable, CustomStringConvertible {
        case clientClosed
        case idle
        case malformed(UoTProtocolError)
        case failed(String)

        var description: String {
            switch self {
            case .clientClosed: "client-closed"
            case .idle: "udp-timeout"
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

    var egress: any DatagramEgress { forwarder.egress }
    var counters: RelayCounters { forwarder.counters }

    func run() async -> Ending {
        defer {
            egress.close()
            connection.close()
        }
        var decoder = UoTStreamDecoder(serverOf: version, maximumPayload: maximumPayload)
        decoder.receive(earlyData)
        var chunks = connection.chunks(chunkSize: 64 * 1024).makeAsyncIterator()

        // v2: the header first (it may wait for the client's first datagram; the idle timeout bounds that).
        var connectDestination: SOCKSEndpoint?
        var framing = UoTFraming.addressed
        if version == .v2 {
            do {
                let (header, rest) = try await withDeadline(idleTimeout) { [decoder, chunks] in
                    try await Self.readHeader(decoder: decoder, chunks: chunks)
                }
                (decoder, chunks) = rest
                framing = header.framing
                connectDestination = header.isConnect ? header.destination : nil
            } catch let error as UoTProtocolError {
                return .malformed(error)
            } catch SocketError.timedOut {
                return .idle
            } catch is HeaderMissing {
                return .clientClosed
            } catch {
                return .failed("\(error)")
            }
        }

        return await withTaskGroup(of: Ending.self) { [decoder, chunks, framing, connectDestination] group in
            group.addTask { await self.decapsulate(decoder: decoder, chunks: chunks, connectDestination: connectDestination) }
            group.addTask { await self.encapsulate(framing: framing) }
            if egress.endsOutsideReceive {
                group.addTask {
                    await egress.waitUntilEnded()
                return .failed("upstream ended the stream")
                }
            }
            group.addTask {
                do { try await counters.waitUntilIdle(for: idleTimeout) } catch { return .clientClosed }
                return .idle
            }
            let ending = await group.next() ?? .clientClosed
            group.cancelAll()
            return ending
        }
    }

    /// The stream ended before a complete header.
    private struct HeaderMissing: Error {}

    private static func readHeader(
        decoder: UoTStreamDecoder, chunks: TCPConnection.Chunks.Iterator
    ) async throws -> (UoTRequestHeader, (UoTStreamDecoder, TCPConnection.Chunks.Iterator)) {
        var decoder = decoder
        var chunks = chunks
        while true {
            if case .header(let header)? = try decoder.next() { return (header, (decoder, chunks)) }
            guard let chunk = try await chunks.next() else { throw HeaderMissing() }
            decoder.receive(chunk)
        }
    }

    private func decapsulate(
        decoder: UoTStreamDecoder, chunks: TCPConnection.Chunks.Iterator, connectDestination: SOCKSEndpoint?
    ) async -> Ending {
        var decoder = decoder
        var chunks = chunks
        return await withDiscardingTaskGroup { lookups in
            do {
                while true {
                    while let event = try decoder.next() {
                        guard case .frame(let frame) = event else { continue }
                        guard let destination = connectDestination ?? frame.endpoint else { continue }
                        await forwarder.forward(frame.payload[...], to: destination, lookupsIn: &lookups)
                    }
                    guard let chunk = try await chunks.next() else { return .clientClosed }
                    decoder.receive(chunk)
                }
            } catch let error as UoTProtocolError {
                return .malformed(error)
            } catch {
                return Task.isCancelled ? .clientClosed : .failed("\(error)")
            }
        }
    }

    private func encapsulate(framing: UoTFraming) async -> Ending {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var frame: [UInt8] = []
        frame.reserveCapacity(65536 + 300)
        while true {
            do {
                let (count, source) = try await egress.receive(into: &buffer, at: 0)
                frame.removeAll(keepingCapacity: true)
                try UoTFrame.append(payload: buffer[0..<count], endpoint: framing == .addressed ? source : nil, framing: framing, to: &frame)
                try await connection.write(frame)
                counters.countDown(count)
            } catch let stranger as StrangerDatagram {
                forwarder.drop("\(stranger)")
            } catch let error as UoTProtocolError {
                forwarder.drop("cannot frame a reply: \(error)")
            } catch {
                return Task.isCancelled ? .clientClosed : .failed("\(error)")
            }
        }
    }
}
