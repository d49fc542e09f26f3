// How client-supplied text is kept from forging log lines or fields.
//
// Two layers, one scheme: a character that must not appear raw is written as `\xHH`, one escape per byte
// of its UTF-8 encoding (a newline is `\x0a`, U+202E is `\xe2\x80\xae`).
//
// 1. Every message, whatever its sink, is passed through `escapingNonPrintable` by `SOCKSLogger.log`, so a
//    call site cannot forget it: a message is always exactly one line, and carries no terminal escapes.
// 2. The access line's client-supplied values (user, destination) are further escaped by
//    `escapingFieldValue`, so they can hold no space, `=` or `"` either: a username cannot add a field.
//
// JSON lines (`LogFormat.json`) escape the JSON way instead, for the values of an event (the access line):
// `JSONLogEncoding` writes every character that is not printable ASCII as `\uXXXX`, so the line stays one
// line of plain ASCII and a parser gets the client's value back exactly. A JSON string cannot hold bytes
// that are not UTF-8: a value sent as such bytes (`LogEvent.Value.clientBytes`) is written as the text
// format writes it, escaped (`al\\xffice`). A free-form message is still passed through
// `escapingNonPrintable` first, as in text; client bytes in a message are written with `ClientBytes`.

extension SOCKSLogger {
    /// `text` with every non-printable character written as `\xHH` per UTF-8 byte: control characters
    /// (C0, DEL and C1; a newline becomes `\x0a`), format characters such as bidirectional overrides, line
    /// and paragraph separators, spaces other than U+0020, private-use, surrogate and unassigned code points.
    ///
    /// Printable text, non-ASCII letters included, passes unchanged. A backslash is not escaped, so applying
    /// this twice changes nothing; in a free-form message a literal `\x0a` typed by a client therefore looks
    /// like an escaped newline, but can never be one.
    package static func escapingNonPrintable(_ text: String) -> String {
        // Almost every message is printable ASCII: one pass over the bytes, no allocation.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F }) else { return text }
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if isPrintable(scalar) {
                escaped.unicodeScalars.append(scalar)
            } else {
                appendEscapedBytes(of: scalar, to: &escaped)
            }
        }
        return escaped
    }

    /// A client-supplied value for one `key=value` field of the access line: every byte that is not
    /// printable ASCII, and every space, `=`, `"` and `\`, written as `\xHH`. The result is one token of
    /// printable ASCII, and `\x` in it always starts an escape. A value that is just `-` (the access line's
    /// "none") becomes `\x2d`.
    static func escapingFieldValue(_ text: String) -> String {
        if text == "-" { return "\\x2d" }
        guard text.utf8.contains(where: { !isPlainFieldByte($0) }) else { return text }
        return escapingEveryFieldByte(text.utf8)
    }

    /// `escapingFieldValue` for a value the client sent as bytes (a user name: RFC 1929 and HTTP Basic do
    /// not promise UTF-8; a name that is no host name), escaped byte by byte as sent: a byte that is not
    /// UTF-8 shows as itself (`al\xffice`), never as U+FFFD, so two values never show alike.
    static func escapingFieldValue(_ bytes: [UInt8]) -> String {
        if bytes == [UInt8(ascii: "-")] { return "\\x2d" }
        guard bytes.contains(where: { !isPlainFieldByte($0) }) else { return String(decoding: bytes, as: UTF8.self) }
        return escapingEveryFieldByte(bytes)
    }

    private static func escapingEveryFieldByte(_ bytes: some Collection<UInt8>) -> String {
        var escaped = ""
        escaped.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            if isPlainFieldByte(byte) {
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                appendEscape(byte, to: &escaped)
            }
        }
        return escaped
    }

    private static func isPlainFieldByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "\\"): false
        default: byte > 0x20 && byte < 0x7F
        }
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value >= 0x20 && scalar.value < 0x7F }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator, .privateUse, .surrogate, .unassigned:
            return false
        default:
            return true
        }
    }

    private static func appendEscapedBytes(of scalar: Unicode.Scalar, to text: inout String) {
        for byte in String(scalar).utf8 {
            appendEscape(byte, to: &text)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".unicodeScalars)

    private static func appendEscape(_ byte: UInt8, to text: inout String) {
        text.unicodeScalars.append("\\")
        text.unicodeScalars.append("x")
        text.unicodeScalars.append(hexDigits[Int(byte >> 4)])
        text.unicodeScalars.append(hexDigits[Int(byte & 0x0F)])
    }
}
