/// The client's first message: `05 NMETHODS METHODS...`.
public struct SOCKSGreeting: Hashable, Sendable {
    public var methods: [SOCKSAuthenticationMethod]

    public init(methods: [SOCKSAuthenticationMethod]) {
        self.methods = methods
    }

    /// - Returns: `nil` when more bytes are needed.
    public static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSGreeting? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let count = reader.readByte(), let methods = reader.readBytes(Int(count)) else { return nil }
        return SOCKSGreeting(methods: methods.map(SOCKSAuthenticationMethod.init(rawValue:)))
    }

    public func encoded() -> [UInt8] {
        [0x05, UInt8(methods.count)] + methods.map(\.rawValue)
    }
}

/// The server's answer to the greeting: `05 METHOD`.
public struct SOCKSMethodSelection: Hashable, Sendable {
    public var method: SOCKSAuthenticationMethod

    public init(method: SOCKSAuthenticationMethod) {
        self.method = method
    }

    public static func parse(from reader: inout ByteReader) throws(SOCKSProtocolError) -> SOCKSMethodSelection? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let method = reader.readByte() else { return nil }
        return SOCKSMethodSelection(method: SOCKSAuthenticationMethod(rawValue: method))
    }

    public func encoded() -> [UInt8] {
        [0x05, method.rawValue]
    }
}
