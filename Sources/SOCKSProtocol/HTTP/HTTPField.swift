/// One header field line of an HTTP/1.x head: a token name and a value without the surrounding whitespace.
///
/// The value is kept as the bytes received: RFC 9110 §5.5 lets a value hold obs-text (bytes 0x80–0xFF,
/// often Latin-1), which a proxy must pass on unchanged; `value` is those bytes read as UTF-8, for reading.
package struct HTTPField: Hashable, Sendable {
    /// The field name as sent (compare it without regard to ASCII case).
    package var name: String
    /// The value's bytes as received, without leading and trailing spaces and tabs.
    package var valueBytes: [UInt8]

    /// The value read as UTF-8 (an invalid sequence reads as U+FFFD); setting it stores its UTF-8 bytes.
    package var value: String {
        get { String(decoding: valueBytes, as: UTF8.self) }
        set { valueBytes = Array(newValue.utf8) }
    }

    package init(name: String, value: String) {
        self.name = name
        valueBytes = Array(value.utf8)
    }

    package init(name: String, valueBytes: [UInt8]) {
        self.name = name
        self.valueBytes = valueBytes
    }

    /// Whether this field is called `name`, without regard to ASCII case.
    package func hasName(_ name: String) -> Bool {
        HTTPSyntax.equalIgnoringASCIICase(self.name, name)
    }
}

extension Array where Element == HTTPField {
    /// The value of the first field called `name` (ASCII case ignored), or nil.
    func firstValue(of name: String) -> String? {
        first { $0.hasName(name) }?.value
    }

    /// The comma-separated list elements of every field called `name` (RFC 9110 §5.6.1), lower-cased,
    /// trimmed, empty elements dropped: the tokens of `Connection` or `Transfer-Encoding`.
    func lowercasedListElements(of name: String) -> [String] {
        var elements: [String] = []
        for field in self where field.hasName(name) {
            for element in field.valueBytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                let trimmed = HTTPSyntax.trimmingWhitespace(element)
                if !trimmed.isEmpty { elements.append(String(decoding: trimmed.map(HTTPSyntax.lowercased), as: UTF8.self)) }
            }
        }
        return elements
    }
}
