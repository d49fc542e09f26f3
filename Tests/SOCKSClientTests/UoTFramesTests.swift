import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Testing

/// Issue 19: `UoTFrames`, the one frame reader of the UoT server, the client library and the upstream
/// egress, over a real loopback connection.
@Suite struct UoTFramesTests {
    /// A connected pair: (the writer's end, the reader's end).
    func pair() async throws -> (TCPConnection, TCPConnection) {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { listener.close() }
        async let accepted = listener.accept()
        let writer = try await TCPConnection.connect(to: listener.localAddress, timeout: .seconds(10))
        return (writer, try await accepted)
    }

    /// The header, then frames split across writes and merged in one, decode in order; every payload lies
    /// in the decoder's one buffer (the same storage from frame to frame: nothing allocated per frame); the
    /// sequence ends at EOF.
    @Test func framesDecodeInOrderFromOneReusedBuffer() async throws {
        let (writer, reader) = try await pair()
        defer { writer.close(); reader.close() }
        let destination = SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 53)
        let header = UoTRequestHeader(isConnect: false, destination: destination).encoded()
        var first: [UInt8] = []
        try UoTFrame.append(payload: [1, 2, 3], endpoint: destination, framing: .addressed, to: &first)
        var merged: [UInt8] = []
        try UoTFrame.append(payload: [4], endpoint: destination, framing: .addressed, to: &merged)
        try UoTFrame.append(payload: [5, 6], endpoint: destination, framing: .addressed, to: &merged)

        var frames = UoTFrames(connection: reader, decoder: UoTStreamDecoder(serverOf: .v2)).makeAsyncIterator()
        try await writer.write(header + first.prefix(4))
        guard case .header(let decoded)? = try await frames.next() else { Issue.record("no header"); return }
        #expect(decoded.destination == destination)
        try await writer.write(Array(first.dropFirst(4)))
        var payloads: [[UInt8]] = []
        var storage: Set<UInt> = []
        func take(_ view: UoTStreamDecoder.View?) {
            guard case .frame(let endpoint, let payload)? = view else { Issue.record("not a frame: \(String(describing: view))"); return }
            #expect(endpoint == destination)
            payloads.append(Array(payload))
            _ = payload.withUnsafeBufferPointer { storage.insert(UInt(bitPattern: $0.baseAddress! - payload.startIndex)) }
        }
        take(try await frames.next())
        try await writer.write(merged)
        take(try await frames.next())
        take(try await frames.next())
        #expect(payloads == [[1, 2, 3], [4], [5, 6]])
        #expect(storage.count == 1, "every payload in the decoder's one buffer")
        writer.close()
        #expect(try await frames.next() == nil)
    }

    /// Bytes that are no frame end the sequence with the decoder's error.
    @Test func malformedBytesThrow() async throws {
        let (writer, reader) = try await pair()
        defer { writer.close(); reader.close() }
        var frames = UoTFrames(connection: reader, decoder: UoTStreamDecoder(framing: .addressed)).makeAsyncIterator()
        try await writer.write([0x7F, 0, 0, 0, 0])  // an address type UoT does not know
        await #expect(throws: UoTProtocolError.self) { _ = try await frames.next() }
    }
}
