import AsyncSockets
import SOCKSProtocol
import Synchronization

extension SOCKSClient {
    /// Opens a UDP-over-TCP stream (sing-box UoT) through the proxy.
    ///
    /// - Parameters:
    ///   - version: `.v2` (the default) or `.v1` for servers that only speak the legacy protocol.
    ///   - connectTo: v2 only: a fixed destination (connect mode, frames carry no address). `nil` (the
    ///     default) opens an addressed stream, where every datagram names its own destination.
    public func udpOverTCP(version: UoTVersion = .v2, connectTo destination: SOCKSEndpoint? = nil) async throws -> UoTClientStream {
        precondition(version == .v2 || destination == nil, "UoT v1 has no connect mode")
        // The port is ignored by servers; current clients send 0. The reply comes before any UoT byte.
        let (connection, _) = try await openRequest(.connect, SOCKSEndpoint(address: .domain(version.magicName), port: 0))
        let header: UoTRequestHeader? = version == .v2
            ? UoTRequestHeader(isConnect: destination != nil, destination: destination ?? SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
            : nil
        return UoTClientStream(connection: connection, header: header, framing: destination == nil ? .addressed : .connect)
    }
}

/// A UoT stream to a proxy: datagrams in frames over one TCP connection.
///
/// `send` may be called by one task at a time (frames never interleave); `frames()` is read by one task.
/// Either side closing the connection ends the stream.
public final class UoTClientStream: Sendable {
    public let connection: TCPConnection
    /// How frames are laid out in both directions.
    public let framing: UoTFraming
    /// v2's request header, written once, glued to the first frame; `nil` for v1.
    private let header: UoTRequestHeader?
    private let headerSent = Atomic<Bool>(false)

    init(connection: TCPConnection, header: UoTRequestHeader?, framing: UoTFraming) {
        self.connection = connection
        self.header = header
        self.framing = framing
    }

    /// Sends one datagram. In connect mode `destination` is ignored (the header's applies).
    ///
    /// - Throws: `UoTProtocolError.payloadTooLarge` over 65535 bytes, without writing anything.
    public func send(_ payload: some Collection<UInt8>, to destination: SOCKSEndpoint?) async throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 300)
        if let header, !headerSent.load(ordering: .relaxed) { bytes += header.encoded() }
        try UoTFrame.append(payload: payload, endpoint: framing == .addressed ? destination : nil, framing: framing, to: &bytes)
        if header != nil { headerSent.store(true, ordering: .relaxed) }
        try await connection.write(bytes)
    }

    /// The datagrams the proxy sends back, as an `AsyncSequence` of frames (the source is set in addressed
    /// framing). Ends at EOF; throws on malformed bytes.
    public func frames() -> Frames {
        Frames(connection: connection, framing: framing)
    }

    public func close() {
        connection.close()
    }

    /// An `AsyncSequence` of the frames a UoT server sends.
    public struct Frames: AsyncSequence, Sendable {
        public typealias Element = UoTFrame
        let connection: TCPConnection
        let framing: UoTFraming

        public func makeAsyncIterator() -> Iterator {
            Iterator(chunks: connection.chunks(chunkSize: 32 * 1024).makeAsyncIterator(), decoder: UoTStreamDecoder(framing: framing))
        }

        public struct Iterator: AsyncIteratorProtocol, Sendable {
            var chunks: TCPConnection.Chunks.Iterator
            var decoder: UoTStreamDecoder

            public mutating func next() async throws -> UoTFrame? {
                while true {
                    if case .frame(let frame)? = try decoder.next() { return frame }
                    guard let chunk = try await chunks.next() else { return nil }
                    decoder.receive(chunk)
                }
            }
        }
    }
}
