/// The client's first message: `05 NMETHODS METHODS...`.
package struct SOCKSGreeting: Hashable, Sendable {
    package var methods: [SOCKSAuthenticationMethod]

    package init(methods: [SOCKSAuthenticationMethod]) {
        self.methods = methods
    }

    /// - Returns: `nil` when more bytes are needed.
    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSGreeting? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let count = reader.readByte(), let methods = reader.readBytes(Int(count)) else { return nil }
        return SOCKSGreeting(methods: methods.map(SOCKSAuthenticationMethod.init(rawValue:)))
    }

    package func encoded() -> [UInt8] {
        [0x05, UInt8(methods.count)] + methods.map(\.rawValue)
    }
}

/// The server's answer to the greeting: `05 METHOD`.
package struct SOCKSMethodSelection: Hashable, Sendable {
    package var method: SOCKSAuthenticationMethod

    package init(method: SOCKSAuthenticationMethod) {
        self.method = method
    }

    package static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSMethodSelection? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let method = reader.readByte() else { return nil }
        return SOCKSMethodSelection(method: SOCKSAuthenticationMethod(rawValue: method))
    }

    package func encoded() -> [UInt8] {
        [0x05, method.rawValue]
    }
}
