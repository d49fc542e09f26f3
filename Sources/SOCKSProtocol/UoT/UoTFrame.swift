/// One datagram on a UoT stream: its payload and, in addressed framing, its destination (client → server)
/// or source (server → client).
public struct UoTFrame: Hashable, Sendable {
    /// `nil` in connect framing, where the header's destination applies.
    public var endpoint: SOCKSEndpoint?
    public var payload: [UInt8]

    public init(endpoint: SOCKSEndpoint?, payload: [UInt8]) {
        self.endpoint = endpoint
        self.payload = payload
    }

    /// The largest payload a frame can carry: its length is a u16.
    public static let maximumPayload = 65535

    /// Appends this frame in `framing`, without building an intermediate array.
    ///
    /// - Throws: `.payloadTooLarge` over 65535 bytes (never wraps the length); nothing is appended then.
    package static func append(
        payload: some Collection<UInt8>, endpoint: SOCKSEndpoint?, framing: UoTFraming, to bytes: inout [UInt8]
    ) throws(UoTProtocolError) {
        try appendHeader(payloadCount: payload.count, endpoint: endpoint, framing: framing, to: &bytes)
        bytes.append(contentsOf: payload)
    }

    /// Appends what goes in front of a payload of `payloadCount` bytes (the address in addressed framing,
    /// then the length), for a writer that keeps the payload where it is.
    ///
    /// - Throws: `.payloadTooLarge` over 65535 bytes; nothing is appended then.
    package static func appendHeader(
        payloadCount: Int, endpoint: SOCKSEndpoint?, framing: UoTFraming, to bytes: inout [UInt8]
    ) throws(UoTProtocolError) {
        guard payloadCount <= maximumPayload else { throw .payloadTooLarge(payloadCount) }
        if framing == .addressed {
            guard let endpoint else { throw .missingAddress }
            bytes.appendUoTEndpoint(endpoint)
        }
        bytes.appendUInt16(UInt16(payloadCount))
    }

    /// This frame's bytes in `framing`.
    package func encoded(framing: UoTFraming) throws(UoTProtocolError) -> [UInt8] {
        var bytes: [UInt8] = []
        try Self.append(payload: payload, endpoint: endpoint, framing: framing, to: &bytes)
        return bytes
    }

    /// Parses one frame; `nil` when more bytes are needed.
    ///
    /// - Throws: on malformed bytes, including an address whose name is no host name (`.invalidDomain`).
    package static func parse(
        from reader: inout ByteReader, framing: UoTFraming, maximumPayload: Int = maximumPayload
    ) throws(UoTProtocolError) -> UoTFrame? {
        switch try read(from: &reader, framing: framing, maximumPayload: maximumPayload) {
        case .frame(let endpoint, let payload)?: UoTFrame(endpoint: endpoint, payload: Array(payload))
        case .unaddressable?: throw .invalidDomain
        case nil: nil
        }
    }

    /// A per-packet address as read: an endpoint, or a name that is no host name (`HostName`), with its port.
    enum Address: Hashable, Sendable {
        case endpoint(SOCKSEndpoint)
        case unaddressable(name: [UInt8], port: UInt16)
    }

    /// What a frame reader found: a frame (its payload a slice of the bytes read, not copied), or a whole
    /// frame addressed to a name that is no host name, which cannot be delivered but leaves the stream in
    /// step (only its payload's length is kept).
    enum Read: Hashable, Sendable {
        case frame(endpoint: SOCKSEndpoint?, payload: ArraySlice<UInt8>)
        case unaddressable(name: [UInt8], port: UInt16, payloadCount: Int)
    }

    /// Reads one frame; `nil` when more bytes are needed. A frame to a name that is no host name is read
    /// whole (after the same length check as any other) and reported as `.unaddressable`.
    static func read(
        from reader: inout ByteReader, framing: UoTFraming, maximumPayload: Int
    ) throws(UoTProtocolError) -> Read? {
        var address: Address?
        if framing == .addressed {
            guard let parsed = try reader.readUoTAddress() else { return nil }
            address = parsed
        }
        guard let length = reader.readUInt16() else { return nil }
        guard Int(length) <= maximumPayload else { throw .frameTooLarge(Int(length)) }
        guard let payload = reader.readBytes(Int(length)) else { return nil }
        switch address {
        case .unaddressable(let name, let port)?:
            return .unaddressable(name: name, port: port, payloadCount: payload.count)
        case .endpoint(let endpoint)?:
            return .frame(endpoint: endpoint, payload: payload)
        case nil:
            return .frame(endpoint: nil, payload: payload)
        }
    }
}
