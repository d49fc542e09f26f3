/// A SOCKS4 or SOCKS4a request: `04 CD DSTPORT DSTIP USERID 00`, and in the 4a form (DSTIP `0.0.0.x`,
/// x ≠ 0) the host name after it, `HOSTNAME 00`, for the server to resolve.
///
/// CD is `01` CONNECT or `02` BIND, the same values as SOCKS5's, so the command is a `SOCKSCommand`; any
/// other value parses, for the server to answer `5B`. The destination is a `SOCKSEndpoint` (IPv4, or a
/// domain in the 4a form), so the code that checks and reaches SOCKS5 destinations serves these unchanged.
package struct SOCKS4Request: Hashable, Sendable {
    package var command: SOCKSCommand
    package var destination: SOCKSEndpoint
    /// The user id, as sent (bytes, without the NUL); the protocol carries no password.
    package var userID: [UInt8]

    /// The longest user id, and the longest 4a host name, in bytes (without the NUL). Longer is malformed:
    /// a server must not read an unbounded field.
    package static let fieldLimit = 255

    package init(command: SOCKSCommand, destination: SOCKSEndpoint, userID: [UInt8] = []) {
        self.command = command
        self.destination = destination
        self.userID = userID
    }

    /// The user id as text, for log messages: bytes that are not UTF-8 as `\xHH` (`ClientBytes`).
    package var userIDText: String { ClientBytes.text(userID) }

    /// - Returns: `nil` when more bytes are needed.
    /// - Throws: a version other than 04, a user id or host name without a NUL within `fieldLimit` bytes, an
    ///   empty host name or one that is no host name (`HostName`).
    package static func parse(from reader: inout ByteReader) throws(SOCKS4ProtocolError) -> SOCKS4Request? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x04 else { throw .unsupportedVersion(version) }
        guard let command = reader.readByte(), let port = reader.readUInt16(), let address = reader.readBytes(4) else { return nil }
        guard let userID = try readField(&reader, tooLong: .userIDTooLong) else { return nil }
        let ip = Array(address)
        let destination: SOCKSEndpoint
        if ip[0] == 0, ip[1] == 0, ip[2] == 0, ip[3] != 0 {
            guard let name = try readField(&reader, tooLong: .hostnameTooLong) else { return nil }
            guard !name.isEmpty else { throw .emptyHostname }
            // Refused rather than decoded with U+FFFD: the text is exactly the bytes sent, or there is none.
            guard let text = HostName.text(name) else { throw .invalidHostname(Array(name)) }
            destination = SOCKSEndpoint(address: .domain(text), port: port)
        } else {
            destination = SOCKSEndpoint(address: .ipv4(ip), port: port)
        }
        return SOCKS4Request(command: SOCKSCommand(rawValue: command), destination: destination, userID: Array(userID))
    }

    /// The bytes up to a NUL (which is consumed), at most `fieldLimit` of them; `nil` when the NUL has not
    /// come yet and the field is still within the limit.
    private static func readField(_ reader: inout ByteReader, tooLong: SOCKS4ProtocolError) throws(SOCKS4ProtocolError) -> ArraySlice<UInt8>? {
        let start = reader.position
        let window = reader.bytes[start..<min(reader.bytes.endIndex, start + fieldLimit + 1)]
        guard let end = window.firstIndex(of: 0) else {
            if window.count > fieldLimit { throw tooLong }
            return nil
        }
        guard let field = reader.readBytes(end - start), reader.readByte() != nil else { return nil }
        return field
    }

    /// The request's bytes: the 4a form (DSTIP `0.0.0.1`) for a domain. SOCKS4 has no IPv6: an IPv6
    /// destination is written in the 4a form with its text as the name. A user id or name longer than
    /// `fieldLimit` is cut to it.
    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = [0x04, command.rawValue]
        bytes.appendUInt16(destination.port)
        let name: [UInt8]?
        switch destination.address {
        case .ipv4(let ip) where ip.count == 4:
            bytes.append(contentsOf: ip)
            name = nil
        case .domain(let text):
            bytes.append(contentsOf: [0, 0, 0, 1])
            name = Array(text.utf8)
        default:
            bytes.append(contentsOf: [0, 0, 0, 1])
            name = Array(destination.address.description.utf8)
        }
        bytes.append(contentsOf: userID.prefix(Self.fieldLimit))
        bytes.append(0)
        if let name {
            bytes.append(contentsOf: name.prefix(Self.fieldLimit))
            bytes.append(0)
        }
        return bytes
    }
}
