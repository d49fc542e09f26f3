/// A log line with structure: a name and fields in a fixed order. The text format writes it as
/// `name key=value …` (the access line: `session client=… user=… …`), the JSON format as members of the
/// line's object (`"event":"session","client":"…","user":…`), so both carry the same fields.
///
/// Log one with `SOCKSLogger.log(_:_:)` (or `info(_:)`); a custom sink receives its `text`.
package struct LogEvent: Sendable, Equatable {
    /// One field's value, typed so that each format can write it as what it is.
    package enum Value: Sendable, Equatable {
        /// Text the server produced (an address, a command, an outcome): as is in the text format, a JSON
        /// string in JSON.
        case text(String)
        /// Text a client chose (a user name, a destination). The text format escapes it to one token
        /// (`SOCKSLogger.escapingFieldValue`: no space, `=`, `"`, `\` or non-ASCII byte raw), so it can add
        /// neither a field nor a line. JSON carries the value itself as a string: JSON escaping keeps the
        /// line one line, but a reader that decodes it gets the client's characters, control ones included.
        case clientText(String)
        /// Bytes a client chose, which need not be UTF-8 (a user name: RFC 1929 and HTTP Basic carry
        /// bytes). The text format escapes them byte by byte as `clientText` (a byte that is not UTF-8 shows
        /// as `\xff`, never as U+FFFD); JSON carries valid UTF-8 as a string, and other bytes as the text
        /// format's escaped token, since a JSON string cannot hold them.
        case clientBytes([UInt8])
        /// A count: a number in both formats.
        case integer(Int)
        /// A duration in seconds: `1.234s` in the text format, the number `1.234` in JSON.
        case seconds(Double)
        /// No value: `-` in the text format, `null` in JSON.
        case absent
    }

    /// A named value.
    package struct Field: Sendable, Equatable {
        /// The name: plain ASCII without spaces or `=`, and not `time`, `level` or `event` (the JSON format's
        /// own members).
        package var key: String
        package var value: Value

        package init(_ key: String, _ value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// What happened, e.g. `session`: the text line's first word, the JSON `event` member.
    package var name: String
    /// The fields, in the order they are written.
    package var fields: [Field]

    package init(_ name: String, fields: [Field]) {
        self.name = name
        self.fields = fields
    }

    /// The text format's message: `name key=value key=value …`.
    package var text: String {
        var line = name
        for field in fields {
            line += " \(field.key)="
            switch field.value {
            case .text(let text): line += text
            case .clientText(let text): line += SOCKSLogger.escapingFieldValue(text)
            case .clientBytes(let bytes): line += SOCKSLogger.escapingFieldValue(bytes)
            case .integer(let number): line += String(number)
            case .seconds(let seconds): line += "\(seconds)s"
            case .absent: line += "-"
            }
        }
        return line
    }
}
