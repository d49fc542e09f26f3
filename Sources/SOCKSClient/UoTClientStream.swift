import AsyncSockets
import SOCKSProtocol
import Synchronization

extension SOCKSClient {
    /// Opens a UDP-over-TCP stream (sing-box UoT) through the proxy.
    ///
    /// - Parameters:
    ///   - version: `.v2` (the default) or `.v1` for servers that only speak the legacy protocol.
    ///   - destination: v2 only: a fixed destination (connect mode, frames carry no address). `nil` (the
    ///     default) opens an addressed stream, where every datagram names its own destination.
    /// - Throws: `SOCKSClientError.unsupportedRequest`, before connecting, for `.v1` with a destination.
    public func udpOverTCP(version: UoTVersion = .v2, connectTo destination: SOCKSEndpoint? = nil) async throws -> UoTClientStream {
        switch (version, destination) {
        case (.v1, .some): throw SOCKSClientError.unsupportedRequest("UoT v1 has no connect mode")
        case (.v1, .none), (.v2, _): break
        }
        // The port is ignored by servers; current clients send 0. The reply comes before any UoT byte.
        let (connection, _) = try await openRequest(.connect, SOCKSEndpoint(address: .domain(version.magicName), port: 0))
        return UoTClientStream(connection: connection, version: version, connectTo: destination)
    }
}

/// A UoT stream to a proxy: datagrams in frames over one TCP connection.
///
/// `send` may be called by one task at a time (frames never interleave); `frames()` is read by one task.
/// Either side closing the connection ends the stream.
public final class UoTClientStream: Sendable {
    package let connection: TCPConnection
    /// How frames are laid out in both directions.
    package let framing: UoTFraming

    /// v2's request header, written once, glued to the first frame (as sing's own client does).
    private enum HeaderState {
        /// v1 has no header.
        case none
        /// Not written yet. Connect mode names its fixed destination. An addressed (non-connect) stream
        /// names its first datagram's destination: servers in sing-box's style route and resolve by the
        /// header's destination alone, so `0.0.0.0:0` there would send a first datagram to a name nowhere.
        case pending(connectTo: SOCKSEndpoint?)
        /// Written.
        case sent
    }

    private let header: Mutex<HeaderState>

    init(connection: TCPConnection, version: UoTVersion, connectTo destination: SOCKSEndpoint?) {
        self.connection = connection
        self.framing = destination == nil ? .addressed : .connect
        self.header = Mutex(version == .v2 ? .pending(connectTo: destination) : .none)
    }

    /// Sends one datagram. In connect mode `destination` is ignored (the header's applies).
    ///
    /// - Throws: `UoTProtocolError.payloadTooLarge` over 65535 bytes, or `.missingAddress` without a
    ///   destination on an addressed stream, without writing anything.
    public func send(_ payload: some Collection<UInt8>, to destination: SOCKSEndpoint?) async throws {
        guard payload.count <= UoTFrame.maximumPayload else { throw UoTProtocolError.payloadTooLarge(payload.count) }
        let endpoint = framing == .addressed ? destination : nil
        if framing == .addressed && endpoint == nil { throw UoTProtocolError.missingAddress }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 300)
        if let header = takeHeader(firstDestination: endpoint) { bytes += header.encoded() }
        try UoTFrame.append(payload: payload, endpoint: endpoint, framing: framing, to: &bytes)
        try await connection.write(bytes)
    }

    /// The header to glue to this datagram, if it is the first.
    private func takeHeader(firstDestination: SOCKSEndpoint?) -> UoTRequestHeader? {
        header.withLock { state in
            switch state {
            case .none, .sent:
                return nil
            case .pending(let connectTo):
                state = .sent
                if let connectTo { return UoTRequestHeader(isConnect: true, destination: connectTo) }
                // `send` has checked that an addressed datagram has a destination.
                return UoTRequestHeader(isConnect: false, destination: firstDestination ?? .unspecified)
            }
        }
    }

    /// The datagrams the proxy sends back, as an `AsyncSequence` of frames (the source is set in addressed
    /// framing). Ends at EOF; throws on malformed bytes. Read through `UoTFrames`, the frame reader the
    /// server and its upstream egress use too.
    public func frames() -> Frames {
        Frames(frames: UoTFrames(connection: connection, decoder: UoTStreamDecoder(framing: framing)))
    }

    public func close() {
        connection.close()
    }

    /// An `AsyncSequence` of the frames a UoT server sends: `UoTFrames`, each payload copied out into a
    /// `UoTFrame` of its own (the element a caller may keep).
    public struct Frames: AsyncSequence, Sendable {
        public typealias Element = UoTFrame
        let frames: UoTFrames

        public func makeAsyncIterator() -> Iterator {
            Iterator(frames: frames.makeAsyncIterator())
        }

        public struct Iterator: AsyncIteratorProtocol, Sendable {
            var frames: UoTFrames.Iterator

            public mutating func next() async throws -> UoTFrame? {
                while let view = try await frames.next() {
                    // A frame from a source that is no host name cannot be handed on: it is skipped.
                    if case .frame(let endpoint, let payload) = view { return UoTFrame(endpoint: endpoint, payload: Array(payload)) }
                }
                return nil
            }
        }
    }
}
