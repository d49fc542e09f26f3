import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization

/// Datagrams through an upstream proxy over one UoT stream in addressed framing (v2 non-connect, or v1):
/// every datagram keeps its own destination, and names travel unresolved for the upstream to resolve.
final class UoTDatagramEgress: DatagramEgress {
    let stream: UoTClientStream
    /// The frame reader, taken out while one `receive` runs (only the relay's to-client task receives).
    private let frames: Mutex<UoTClientStream.Frames.Iterator?>

    init(stream: UoTClientStream) {
        self.stream = stream
        self.frames = Mutex(stream.frames().makeAsyncIterator())
    }

    func sendsWithoutLookup(to destination: SOCKSEndpoint) -> Bool { true }

    func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async throws {
        try await stream.send(payload, to: destination)
    }

    func receive(into buffer: inout [UInt8], at offset: Int) async throws -> (count: Int, source: SOCKSEndpoint) {
        guard var iterator = frames.withLock({ $0.take() }) else { throw DatagramEgressError.upstreamClosed }
        defer { frames.withLock { $0 = iterator } }
        guard let frame = try await iterator.next(), let source = frame.endpoint else { throw DatagramEgressError.upstreamClosed }
        let end = offset + frame.payload.count
        if end > buffer.count { buffer.append(contentsOf: repeatElement(0, count: end - buffer.count)) }
        buffer.replaceSubrange(offset..<end, with: frame.payload)
        return (frame.payload.count, source)
    }

    /// The stream's end shows in `receive` (EOF): nothing else to watch.
    var endsOutsideReceive: Bool { false }

    func waitUntilEnded() async {}

    func close() {
        stream.close()
    }
}
