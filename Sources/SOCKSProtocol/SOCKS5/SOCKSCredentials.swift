/// The RFC 1929 username/password request: `01 ULEN UNAME PLEN PASSWD`.
///
/// Both fields are bytes on the wire; RFC 1929 does not promise UTF-8. The description never shows the
/// password, so a credentials value can be logged safely.
public struct SOCKSCredentials: Hashable, Sendable, CustomStringConvertible {
    public var username: [UInt8]
    public var password: [UInt8]

    public init(username: [UInt8], password: [UInt8]) {
        self.username = username
        self.password = password
    }

    public init(username: String, password: String) {
        self.init(username: Array(username.utf8), password: Array(password.utf8))
    }

    /// The username as text, for log messages: bytes that are not UTF-8 as `\xHH` (`ClientBytes`), so a
    /// name is never shown as another. (Users are compared by their bytes, never by this text.)
    public var usernameText: String { ClientBytes.text(username) }

    public var description: String { "\(usernameText):<redacted>" }

    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSCredentials? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x01 else { throw .unsupportedVersion(version) }
        guard let userLength = reader.readByte(), let username = reader.readBytes(Int(userLength)),
              let passwordLength = reader.readByte(), let password = reader.readBytes(Int(passwordLength))
        else { return nil }
        guard userLength > 0, passwordLength > 0 else { throw .emptyCredential }
        return SOCKSCredentials(username: Array(username), password: Array(password))
    }

    /// Encodes the request; fields longer than 255 bytes are cut to 255.
    package func encoded() -> [UInt8] {
        let user = username.prefix(255)
        let pass = password.prefix(255)
        return [0x01, UInt8(user.count)] + user + [UInt8(pass.count)] + pass
    }
}

/// The RFC 1929 answer: `01 STATUS`, where `00` is success and anything else failure.
package struct SOCKSAuthenticationStatus: Hashable, Sendable {
    package var status: UInt8

    package init(status: UInt8) {
        self.status = status
    }

    package static let success = SOCKSAuthenticationStatus(status: 0x00)
    package static let failure = SOCKSAuthenticationStatus(status: 0x01)

    package var succeeded: Bool { status == 0 }

    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSAuthenticationStatus? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x01 else { throw .unsupportedVersion(version) }
        guard let status = reader.readByte() else { return nil }
        return SOCKSAuthenticationStatus(status: status)
    }

    package func encoded() -> [UInt8] {
        [0x01, status]
    }
}
