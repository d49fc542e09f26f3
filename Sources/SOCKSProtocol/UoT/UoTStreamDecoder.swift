/// Reads a UoT stream incrementally: feed it whatever the socket returns, take out headers and frames.
///
/// A server starts it with the stream's version (v2 expects the request header first; v1 goes straight to
/// addressed frames); a client reading the server's direction starts it with the framing it asked for.
/// However the bytes are split or merged, the same events come out.
package struct UoTStreamDecoder: Sendable {
    /// What the stream carried next.
    package enum Event: Hashable, Sendable {
        case header(UoTRequestHeader)
        case frame(UoTFrame)
        /// An addressed frame whose address is a name that is no host name (`HostName`: a space, a byte that
        /// is not UTF-8, …): read whole but not decoded, for the reader to drop (and count); the stream goes
        /// on. The name's bytes as sent, for the log.
        case unaddressableFrame(name: [UInt8], port: UInt16, payloadCount: Int)
    }

    private enum State: Sendable {
        case awaitingHeader
        case frames(UoTFraming)
    }

    private var state: State
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// The buffer capacity kept once every byte is consumed; beyond it the buffer is freed.
    static let retainedCapacity = 4096
    /// Frames with a longer payload end the stream with `.frameTooLarge`.
    package let maximumPayload: Int

    /// A decoder for the client → server direction of a stream of `version`.
    package init(serverOf version: UoTVersion, maximumPayload: Int = UoTFrame.maximumPayload) {
        state = version == .v2 ? .awaitingHeader : .frames(.addressed)
        self.maximumPayload = maximumPayload
    }

    /// A decoder for frames of a known framing (the server → client direction).
    package init(framing: UoTFraming, maximumPayload: Int = UoTFrame.maximumPayload) {
        state = .frames(framing)
        self.maximumPayload = maximumPayload
    }

    /// The framing in force, once known (after the v2 header).
    package var framing: UoTFraming? {
        if case .frames(let framing) = state { return framing }
        return nil
    }

    /// What the stream carried next, read where it lies: a frame's payload is a slice of the decoder's
    /// buffer, valid until the next call to `receive`, `nextView` or `next` (let go of it before then, and
    /// the decoder reuses its buffer without copying). `next()` is the same with the payload copied out.
    package enum View: Sendable {
        case header(UoTRequestHeader)
        case frame(endpoint: SOCKSEndpoint?, payload: ArraySlice<UInt8>)
        case unaddressableFrame(name: [UInt8], port: UInt16, payloadCount: Int)
    }

    package mutating func receive(_ bytes: some Sequence<UInt8>) {
        releaseConsumed()
        buffer.append(contentsOf: bytes)
    }

    /// The next header or frame; `nil` when more bytes are needed.
    ///
    /// - Throws: on malformed bytes; the stream cannot be resynchronised and must be closed.
    package mutating func next() throws(UoTProtocolError) -> Event? {
        let event: Event? =
            switch try nextView() {
            case .header(let header)?: .header(header)
            case .frame(let endpoint, let payload)?: .frame(UoTFrame(endpoint: endpoint, payload: Array(payload)))
            case .unaddressableFrame(let name, let port, let payloadCount)?: .unaddressableFrame(name: name, port: port, payloadCount: payloadCount)
            case nil: nil
            }
        releaseConsumed()
        return event
    }

    /// The next header or frame, its payload not copied (see `View`); `nil` when more bytes are needed.
    ///
    /// - Throws: on malformed bytes; the stream cannot be resynchronised and must be closed.
    package mutating func nextView() throws(UoTProtocolError) -> View? {
        releaseConsumed()
        var reader = ByteReader(buffer[readIndex...])
        let view: View
        switch state {
        case .awaitingHeader:
            guard let header = try UoTRequestHeader.parse(from: &reader) else { return nil }
            state = .frames(header.framing)
            view = .header(header)
        case .frames(let framing):
            switch try UoTFrame.read(from: &reader, framing: framing, maximumPayload: maximumPayload) {
            case .frame(let endpoint, let payload)?: view = .frame(endpoint: endpoint, payload: payload)
            case .unaddressable(let name, let port, let payloadCount)?:
                view = .unaddressableFrame(name: name, port: port, payloadCount: payloadCount)
            case nil: return nil
            }
        }
        readIndex = reader.position
        return view
    }

    /// Drops the bytes already decoded. Called by the decoder itself before it reads or takes bytes (by
    /// then a view's payload has been let go of, so the buffer is changed in place), and by a reader before
    /// it waits for more: an idle stream should not keep the room a burst needed, so small capacity is
    /// kept (no allocation for the next bytes) and large is freed.
    package mutating func releaseConsumed() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacity)
            readIndex = 0
        } else if readIndex > 65536 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
    }
}
