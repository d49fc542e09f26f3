/// The client's request: `05 CMD 00 ATYP DST.ADDR DST.PORT`.
public struct SOCKSRequest: Hashable, Sendable {
    public var command: SOCKSCommand
    public var destination: SOCKSEndpoint

    public init(command: SOCKSCommand, destination: SOCKSEndpoint) {
        self.command = command
        self.destination = destination
    }

    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: on a wrong version, an unknown ATYP or an invalid name. A nonzero reserved byte is accepted,
    ///   as most servers do.
    public static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSRequest? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let command = reader.readByte(), reader.readByte() != nil,
              let destination = try reader.readEndpoint()
        else { return nil }
        return SOCKSRequest(command: SOCKSCommand(rawValue: command), destination: destination)
    }

    public func encoded() -> [UInt8] {
        .message(0x05, command.rawValue, 0x00, endpoint: destination)
    }
}

/// The server's reply: `05 REP 00 ATYP BND.ADDR BND.PORT`.
public struct SOCKSReply: Hashable, Sendable {
    public var code: SOCKSReplyCode
    public var bound: SOCKSEndpoint

    public init(code: SOCKSReplyCode, bound: SOCKSEndpoint = .unspecified) {
        self.code = code
        self.bound = bound
    }

    public static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSReply? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let code = reader.readByte(), reader.readByte() != nil, let bound = try reader.readEndpoint()
        else { return nil }
        return SOCKSReply(code: SOCKSReplyCode(rawValue: code), bound: bound)
    }

    public func encoded() -> [UInt8] {
        .message(0x05, code.rawValue, 0x00, endpoint: bound)
    }

    /// Appends the encoded reply to `bytes`: for a caller that writes it from a buffer it already has.
    public func encode(into bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + 3 + bound.encodedCount)
        bytes.append(0x05)
        bytes.append(code.rawValue)
        bytes.append(0x00)
        bytes.appendEndpoint(bound)
    }
}
