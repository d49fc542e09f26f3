/// The pieces of a JSON log line, appended to a byte buffer.
///
/// Strings come out as pure ASCII: `"` and `\` escaped, every control character (C0 and DEL) as `\u00XX`,
/// and every character past ASCII as `\uXXXX` (a UTF-16 surrogate pair above U+FFFF). Any JSON parser reads
/// the value back exactly, and the raw line can carry no newline, terminal escape or bidirectional override.
enum JSONLogEncoding {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `text` as a JSON string, quotes included.
    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case 0x5C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x20..<0x7F: bytes.append(UInt8(scalar.value))
            case 0..<0x20, 0x7F..<0x1_0000: appendUnicodeEscape(UInt16(scalar.value), to: &bytes)
            default:
                // JSON's \u escapes are UTF-16 code units: a scalar above the BMP is its surrogate pair.
                for unit in String(scalar).utf16 {
                    appendUnicodeEscape(unit, to: &bytes)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A duration or other real number; `null` for one JSON cannot write (infinite or NaN).
    static func appendNumber(_ number: Double, to bytes: inout [UInt8]) {
        // Swift's shortest round-trip form (`0.123`, `12.0`, `1e-05`) is valid JSON for every finite value.
        guard number.isFinite else { return bytes += Array("null".utf8) }
        bytes += Array(number.description.utf8)
    }

    static func appendNumber(_ number: Int, to bytes: inout [UInt8]) {
        bytes += Array(String(number).utf8)
    }

    /// `"key":` — the start of an object member.
    static func appendKey(_ key: String, to bytes: inout [UInt8]) {
        appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    private static func appendUnicodeEscape(_ unit: UInt16, to bytes: inout [UInt8]) {
        bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u")]
        for shift in stride(from: 12, through: 0, by: -4) {
            bytes.append(hexDigits[Int((unit >> UInt16(shift)) & 0xF)])
        }
    }
}
