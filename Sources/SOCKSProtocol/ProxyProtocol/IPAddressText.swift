/// IPv4 and IPv6 addresses as text, in pure Swift (the module has no C library dependency): strict parsers
/// for PROXY v1 lines, and the formatter for their encoder and for log lines.
///
/// The parsers are scanners fed one byte at a time, so that a header arriving in pieces is refused at the
/// first byte that no valid address could contain, and not only once the whole field is in.
enum IPAddressText {
    /// A dotted quad: exactly four decimal numbers 0–255 without leading zeros (`010` could be read as octal),
    /// separated by single dots.
    struct IPv4Scanner {
        private var address: UInt32 = 0
        private var octet: UInt32 = 0
        private var digits = 0
        private var dots = 0

        /// Takes the next character; false when no valid address starts with the characters so far.
        mutating func feed(_ character: UInt8) -> Bool {
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 1 && octet == 0 { return false }
                octet = octet * 10 + UInt32(character - UInt8(ascii: "0"))
                digits += 1
                // With no leading zero, at most 255 means at most three digits.
                return octet <= 255
            case UInt8(ascii: "."):
                guard digits > 0, dots < 3 else { return false }
                address = address << 8 | octet
                octet = 0
                digits = 0
                dots += 1
                return true
            default:
                return false
            }
        }

        /// Whether the characters so far form a whole address (rather than one still missing its end).
        var isComplete: Bool { digits > 0 && dots == 3 }

        /// The address in network order, once complete.
        var bytes: [UInt8]? {
            guard isComplete else { return nil }
            let value = address << 8 | octet
            return [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
    }

    /// IPv6 text (RFC 4291 section 2.2): groups of 1–4 hex digits in either case, at most one `::` standing
    /// for one or more zero groups, and optionally a dotted quad (as strict as `IPv4Scanner`) as the last
    /// 32 bits. Zone identifiers (`%eth0`) and prefixes are not addresses and are refused.
    struct IPv6Scanner {
        /// The groups read so far, in a fixed vector rather than an array: no allocation per address.
        private var groups = Groups()
        /// Where `::` stands in `groups`, if it was seen.
        private var compressionIndex: Int?
        private var group: UInt16 = 0
        private var groupDigits = 0
        /// The current group read as the first number of a dotted quad, while it still could be one.
        private var groupAsIPv4: IPv4Scanner? = IPv4Scanner()
        /// Set once a dot turned the rest into a dotted quad.
        private var ipv4: IPv4Scanner?
        /// Colons just read: 0, 1, or 2 after `::`.
        private var colons = 0
        private var charactersRead = 0

        /// At most eight groups, or seven when `::` stands for at least one.
        private var groupLimit: Int { compressionIndex == nil ? 8 : 7 }

        /// Takes the next character; false when no valid address starts with the characters so far.
        mutating func feed(_ character: UInt8) -> Bool {
            charactersRead += 1
            if ipv4 != nil { return ipv4!.feed(character) }
            switch character {
            case UInt8(ascii: ":"):
                if groupDigits > 0 {
                    groups.append(group)
                    group = 0
                    groupDigits = 0
                    groupAsIPv4 = IPv4Scanner()
                    colons = 1
                    // Another group or `::` must follow, and there must be room for it.
                    return groups.count < groupLimit
                }
                switch colons {
                case 0:  // the first character: only valid as the start of `::`
                    colons = 1
                    return true
                case 1:
                    guard compressionIndex == nil else { return false }
                    compressionIndex = groups.count
                    colons = 2
                    return groups.count <= 7
                default:  // `:::`
                    return false
                }
            case UInt8(ascii: "."):
                // The dotted quad ends the address and stands for its last two groups: six come before it,
                // or at most five and `::`.
                let roomForQuad = compressionIndex == nil ? groups.count == 6 : groups.count + 2 <= groupLimit
                guard groupDigits > 0, roomForQuad, var quad = groupAsIPv4, quad.feed(character) else { return false }
                ipv4 = quad
                return true
            default:
                guard let value = Self.hexValue(character) else { return false }
                // A single leading colon (`:1`) is not the start of `::`.
                if colons == 1 && charactersRead == 2 { return false }
                if groupDigits == 0 && groups.count + 1 > groupLimit { return false }
                guard groupDigits < 4 else { return false }
                group = group << 4 | UInt16(value)
                groupDigits += 1
                colons = 0
                if groupAsIPv4 != nil, !groupAsIPv4!.feed(character) { groupAsIPv4 = nil }
                return true
            }
        }

        /// The address in network order, if the characters read form a whole one.
        var bytes: [UInt8]? {
            var all = groups
            if let ipv4 {
                guard let quad = ipv4.bytes else { return nil }
                all.append(UInt16(quad[0]) << 8 | UInt16(quad[1]))
                all.append(UInt16(quad[2]) << 8 | UInt16(quad[3]))
            } else if groupDigits > 0 {
                all.append(group)
            } else if colons != 2 {
                return nil  // empty, or a trailing single colon
            }
            // `::` stands for the zero groups that make eight: at least one.
            let zeros = 8 - all.count
            guard compressionIndex == nil ? zeros == 0 : zeros >= 1 else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16)
            for index in 0..<all.count {
                if index == compressionIndex { bytes.append(contentsOf: repeatElement(0, count: 2 * zeros)) }
                bytes.append(UInt8(all.values[index] >> 8))
                bytes.append(UInt8(all.values[index] & 0xFF))
            }
            if compressionIndex == all.count { bytes.append(contentsOf: repeatElement(0, count: 2 * zeros)) }
            return bytes
        }

        /// Up to eight 16-bit groups.
        private struct Groups {
            var values = SIMD8<UInt16>()
            private(set) var count = 0

            /// `feed` refuses a ninth group before it is appended; were one appended anyway, it would be
            /// counted (and the address refused for it) rather than stored.
            mutating func append(_ value: UInt16) {
                if count < 8 { values[count] = value }
                count += 1
            }
        }

        private static func hexValue(_ character: UInt8) -> UInt8? {
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
            default: nil
            }
        }
    }

    /// The network-order bytes of a dotted quad, or `nil`.
    static func parseIPv4(_ text: some StringProtocol) -> [UInt8]? {
        var scanner = IPv4Scanner()
        for character in text.utf8 where !scanner.feed(character) { return nil }
        return scanner.bytes
    }

    /// The network-order bytes of IPv6 text, or `nil`.
    static func parseIPv6(_ text: some StringProtocol) -> [UInt8]? {
        var scanner = IPv6Scanner()
        for character in text.utf8 where !scanner.feed(character) { return nil }
        return scanner.bytes
    }

    /// 4 bytes as a dotted quad; 16 as IPv6 in the RFC 5952 form (lower case, no leading zeros, the longest
    /// run of two or more zero groups, the first of equals, as `::`); anything else as its length, which no
    /// header produces.
    static func format(_ address: [UInt8]) -> String {
        switch address.count {
        case 4:
            return address.map { String($0) }.joined(separator: ".")
        case 16:
            let groups = stride(from: 0, to: 16, by: 2).map { UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]) }
            var best: Range<Int> = 0..<0
            var start = 0
            while start < 8 {
                guard groups[start] == 0 else { start += 1; continue }
                var end = start
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - start > best.count { best = start..<end }
                start = end
            }
            let text = { (range: Range<Int>) in groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
            guard best.count >= 2 else { return text(0..<8) }
            return text(0..<best.lowerBound) + "::" + text(best.upperBound..<8)
        default:
            return "<\(address.count)-byte address>"
        }
    }
}
