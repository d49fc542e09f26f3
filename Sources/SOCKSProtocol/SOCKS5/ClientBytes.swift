/// Bytes a client sent (a user name, a user id, a name it asked for) as text for a log message.
///
/// Valid UTF-8 comes out as it is; each byte that is not part of valid UTF-8 comes out as `\xHH`, the escape
/// the server's logger writes for bytes it will not show raw. Nothing is replaced by U+FFFD, so two byte
/// strings that differ read differently (short of a client typing `\xff` itself, which a free-form message
/// cannot tell apart, as the logger's notes say). The logger still escapes what is not printable in the
/// valid part.
package enum ClientBytes {
    package static func text(_ bytes: some Collection<UInt8>) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        let bytes = Array(bytes)
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        var index = 0
        while index < bytes.count {
            // A parser per scalar, over what is left: `.error(length:)` then says which bytes to escape.
            var parser = Unicode.UTF8.ForwardParser()
            var remaining = bytes[index...].makeIterator()
            switch parser.parseScalar(from: &remaining) {
            case .valid(let encoded):
                text.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                index += encoded.count
            case .error(let length):
                for byte in bytes[index..<index + length] {
                    text += "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
                }
                index += length
            case .emptyInput:
                index = bytes.count
            }
        }
        return text
    }
}
