/// The client's request: `05 CMD 00 ATYP DST.ADDR DST.PORT`.
package struct SOCKSRequest: Hashable, Sendable {
    package var command: SOCKSCommand
    package var destination: SOCKSEndpoint

    package init(command: SOCKSCommand, destination: SOCKSEndpoint) {
        self.command = command
        self.destination = destination
    }

    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: on a wrong version, an unknown ATYP or an invalid name. A nonzero reserved byte is accepted,
    ///   as most servers do.
    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSRequest? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let command = reader.readByte(), reader.readByte() != nil,
              let destination = try reader.readEndpoint()
        else { return nil }
        return SOCKSRequest(command: SOCKSCommand(rawValue: command), destination: destination)
    }

    package func encoded() -> [UInt8] {
        .message(0x05, command.rawValue, 0x00, endpoint: destination)
    }
}

/// The server's reply: `05 REP 00 ATYP BND.ADDR BND.PORT`.
package struct SOCKSReply: Hashable, Sendable {
    package var code: SOCKSReplyCode
    package var bound: SOCKSEndpoint

    package init(code: SOCKSReplyCode, bound: SOCKSEndpoint = .unspecified) {
        self.code = code
        self.bound = bound
    }

    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSReply? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let code = reader.readByte(), reader.readByte() != nil, let bound = try reader.readEndpoint()
        else { return nil }
        return SOCKSReply(code: SOCKSReplyCode(rawValue: code), bound: bound)
    }

    package func encoded() -> [UInt8] {
        .message(0x05, code.rawValue, 0x00, endpoint: bound)
    }

    /// Appends the encoded reply to `bytes`: for a caller that writes it from a buffer it already has.
    package func encode(into bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + 3 + bound.encodedCount)
        bytes.append(0x05)
        bytes.append(code.rawValue)
        bytes.append(0x00)
        bytes.appendEndpoint(bound)
    }
}
