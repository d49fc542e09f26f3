/// Reads JSON text (RFC 8259, UTF-8) into a `JSONValue`, strictly: no comments, no trailing commas, no
/// single quotes; a leading UTF-8 byte order mark is skipped (some editors write one).
///
/// Written for configuration files rather than taken from Foundation, whose `JSONSerialization` merges a
/// key given twice without a word, reads `0` as `false` and `true` as `1`, and reports a syntax error by
/// byte offset. This reader says where (line and column) and what it expected. It is not built for speed:
/// a configuration file is read once per start or reload.
package struct JSONReader {
    /// Why the text is not JSON, and where.
    package struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        /// 1-based line of the offending byte.
        package var line: Int
        /// 1-based column of the offending character on its line (characters counted as Unicode scalars).
        package var column: Int
        /// What is wrong there, and what was expected.
        package var reason: String

        /// `line L, column C: REASON`.
        package var description: String { "line \(line), column \(column): \(reason)" }
    }

    /// How deep arrays and objects may nest. A configuration needs five levels; the limit keeps a hostile
    /// file from exhausting the stack (the reader recurses once a level).
    package static let maximumDepth = 64

    private let bytes: [UInt8]
    private var position = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The value that `bytes` hold, which must be one JSON value with only whitespace around it.
    package static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        var reader = JSONReader(bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.position = 3 }
        reader.skipWhitespace()
        guard reader.position < bytes.count else { throw reader.error("the document is empty; expected a JSON object") }
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == bytes.count else {
            throw reader.error("\(reader.found) after the end of the document")
        }
        return value
    }

    // MARK: Values

    private mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
        guard position < bytes.count else { throw error("the document ends where a value belongs") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("\(found) where a value belongs (a string in double quotes, a number, true, false, null, [ or {)")
        }
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("arrays and objects nest more than \(Self.maximumDepth) deep") }
        position += 1  // {
        var members: [JSONValue.Member] = []
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .object(members) }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("\(found) where a key in double quotes belongs")
            }
            let key = try string()
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { throw error("\(found) where ':' belongs after the key") }
            skipWhitespace()
            members.append(JSONValue.Member(key, try value(depth: depth)))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "}")) { return .object(members) }
            throw error("\(found) where ',' or '}' belongs")
        }
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("arrays and objects nest more than \(Self.maximumDepth) deep") }
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            if consume(UInt8(ascii: ",")) { continue }
            if consume(UInt8(ascii: "]")) { return .array(elements) }
            throw error("\(found) where ',' or ']' belongs")
        }
    }

    private mutating func literal(_ word: String, _ value: JSONValue) throws(SyntaxError) -> JSONValue {
        let word = Array(word.utf8)
        guard bytes[position...].starts(with: word) else {
            throw error("\(found) where a value belongs (true, false and null are lower-case, strings are in double quotes)")
        }
        position += word.count
        return value
    }

    /// A number's text, checked against JSON's grammar.
    private mutating func number() throws(SyntaxError) -> String {
        let start = position
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            if position < bytes.count, Self.isDigit(bytes[position]) { throw error("a number cannot start with 0 (write 7, not 07)") }
        } else {
            guard digits() > 0 else { throw error("\(found) where the digits of a number belong") }
        }
        if consume(UInt8(ascii: ".")) {
            guard digits() > 0 else { throw error("\(found) where the digits after a decimal point belong") }
        }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard digits() > 0 else { throw error("\(found) where the digits of an exponent belong") }
        }
        // Only ASCII was consumed.
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Skips digits; returns how many.
    private mutating func digits() -> Int {
        let start = position
        while position < bytes.count, Self.isDigit(bytes[position]) { position += 1 }
        return position - start
    }

    /// A string, from its opening quote to its closing one, escapes decoded.
    private mutating func string() throws(SyntaxError) -> String {
        let start = position
        position += 1  // "
        var content: [UInt8] = []
        while true {
            guard position < bytes.count else {
                position = start
                throw error("this string has no closing double quote")
            }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: content, as: UTF8.self) else {
                    position = start
                    throw error("this string is not valid UTF-8 (the file must be UTF-8 text)")
                }
                return text
            case UInt8(ascii: "\\"):
                try escape(into: &content)
            case 0..<0x20:
                throw error("a control character (\(found)) inside a string; write it as an escape such as \\n, \\t or \\u001b")
            default:
                content.append(byte)
                position += 1
            }
        }
    }

    /// Decodes the escape at `position` (a backslash) and appends its UTF-8 bytes.
    private mutating func escape(into content: inout [UInt8]) throws(SyntaxError) {
        position += 1  // \
        guard position < bytes.count else { throw error("this string has no closing double quote") }
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "\""): UInt8(ascii: "\""), UInt8(ascii: "\\"): UInt8(ascii: "\\"), UInt8(ascii: "/"): UInt8(ascii: "/"),
            UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
        ]
        if let decoded = simple[bytes[position]] {
            content.append(decoded)
            position += 1
            return
        }
        guard bytes[position] == UInt8(ascii: "u") else {
            throw error("\(found) after a backslash: JSON's escapes are \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t and \\uXXXX")
        }
        position += 1
        var scalarValue = try hexQuad()
        switch scalarValue {
        case 0xD800...0xDBFF:
            // A high surrogate: a low one must follow, and the two make one scalar above U+FFFF.
            guard bytes[position...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")]) else {
                throw error("\\u\(String(scalarValue, radix: 16)) is half of a surrogate pair without its other half")
            }
            position += 2
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else {
                throw error("\\u\(String(low, radix: 16)) does not complete the surrogate pair before it")
            }
            scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
        case 0xDC00...0xDFFF:
            throw error("\\u\(String(scalarValue, radix: 16)) is half of a surrogate pair without its other half")
        default:
            break
        }
        // Surrogates were excluded above, so every value left is a scalar.
        guard let scalar = Unicode.Scalar(scalarValue) else { throw error("\\u escape of no character") }
        content.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    /// Four hexadecimal digits, as a number.
    private mutating func hexQuad() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count, let digit = Self.hexValue(bytes[position]) else {
                throw error("\(found) where the four hexadecimal digits of \\uXXXX belong")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    // MARK: Bytes

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The byte at `position`, for a message: `'x'` for printable ASCII, `byte 0xC3` otherwise, `the end of
    /// the document` past it.
    private var found: String {
        guard position < bytes.count else { return "the end of the document" }
        let byte = bytes[position]
        return (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    /// An error at `position`, with its line and column.
    private func error(_ reason: String) -> SyntaxError {
        let end = min(position, bytes.count)
        var line = 1
        var lineStart = 0
        for index in 0..<end where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        // Columns count characters (scalars), not bytes: UTF-8 continuation bytes (10xxxxxx) are skipped.
        let column = 1 + bytes[lineStart..<end].count { $0 & 0xC0 != 0x80 }
        return SyntaxError(line: line, column: column, reason: reason)
    }
}
