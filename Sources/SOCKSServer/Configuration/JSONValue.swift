/// A JSON value as `JSONReader` reads it, for `ConfigurationFile`: objects keep their members in the
/// order written, a key given twice included (so that it can be reported, where a dictionary would keep one
/// silently), and numbers keep their text (so that `1`, `1.0` and `1e400` stay apart until a reader decides
/// what it accepts; Foundation's `JSONSerialization` reads `0` as `false` and `1.0` as `1`).
package enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as written: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    case number(String)
    /// A string, its escapes decoded.
    case string(String)
    /// An array, its elements in order.
    case array([JSONValue])
    /// An object, its members in the order written, a key given twice included.
    case object([Member])

    /// One `"key": value` of an object.
    package struct Member: Sendable, Hashable {
        /// The key, its escapes decoded.
        package var key: String
        /// The value.
        package var value: JSONValue

        /// The member `key`: `value`.
        package init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// What kind of value this is, for a message: `a string`, `an object`.
    package var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let text): "the number \(text.count > 40 ? String(text.prefix(40)) + "…" : text)"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as JSON text: two spaces of indentation a level, members in their order, strings escaped
    /// only where JSON requires it (quote, backslash, control characters). `JSONReader` reads it back to an
    /// equal value.
    package var text: String {
        var output = ""
        write(to: &output, indentation: "")
        return output
    }

    private func write(to output: inout String, indentation: String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let text): output += text
        case .string(let text): Self.writeString(text, to: &output)
        case .array(let elements):
            guard !elements.isEmpty else {
                output += "[]"
                return
            }
            // Arrays of scalars stay on one line (`["127.0.0.1:1080", "[::1]:1080"]`), as a person writes them.
            if elements.allSatisfy(\.isScalar) {
                output += "["
                for (index, element) in elements.enumerated() {
                    if index > 0 { output += ", " }
                    element.write(to: &output, indentation: indentation)
                }
                output += "]"
                return
            }
            Self.writeBlock(elements, between: ("[", "]"), to: &output, indentation: indentation) { element, output, inner in
                element.write(to: &output, indentation: inner)
            }
        case .object(let members):
            guard !members.isEmpty else {
                output += "{}"
                return
            }
            Self.writeBlock(members, between: ("{", "}"), to: &output, indentation: indentation) { member, output, inner in
                Self.writeString(member.key, to: &output)
                output += ": "
                member.value.write(to: &output, indentation: inner)
            }
        }
    }

    /// `items` between the brackets, one a line, indented a level deeper than `indentation`.
    private static func writeBlock<Item>(
        _ items: [Item], between brackets: (String, String), to output: inout String, indentation: String,
        _ writeItem: (Item, inout String, String) -> Void
    ) {
        let inner = indentation + "  "
        output += brackets.0 + "\n"
        for (index, item) in items.enumerated() {
            output += inner
            writeItem(item, &output, inner)
            output += index == items.count - 1 ? "\n" : ",\n"
        }
        output += indentation + brackets.1
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    private static func writeString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
