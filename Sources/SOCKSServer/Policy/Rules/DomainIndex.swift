/// The domain rules of a `DestinationRules`, found by looking up each suffix of a name that starts at a
/// label boundary (`a.example.com`, `example.com`, `com`) instead of comparing the name with every rule.
///
/// Names are compared as bytes with ASCII letters folded to lower case, which is how DNS compares them
/// (RFC 4343): a name that matches a rule only after Unicode case mapping (the Kelvin sign lower-cases to
/// `k`) is a different name to the resolver, so it must not match either.
struct DomainIndex: Sendable {
    /// The rules of one domain, in list order.
    private struct DomainRules: Sendable {
        let domain: [UInt8]
        var rules: [IndexedRule]
    }

    /// Domains by the hash of their bytes; a bucket holds several only when their hashes collide.
    private var domainsByHash: [UInt64: [DomainRules]] = [:]
    /// The most labels a rule's domain has: a suffix with more cannot match, so the lookup of a long name
    /// (a client may send 127 labels) stops there.
    private var mostLabels = 0

    var isEmpty: Bool { domainsByHash.isEmpty }

    /// Adds `rule` for `domain` (lower-case, no trailing dot). Rules are added in list order.
    mutating func add(_ rule: IndexedRule, domain: String) {
        let bytes = Array(domain.utf8)
        let hash = bytes.reversed().reduce(Self.hashSeed, Self.hash)
        mostLabels = max(mostLabels, 1 + bytes.count { $0 == UInt8(ascii: ".") })
        var bucket = domainsByHash[hash, default: []]
        if let existing = bucket.firstIndex(where: { $0.domain == bytes }) {
            bucket[existing].rules.append(rule)
        } else {
            bucket.append(DomainRules(domain: bytes, rules: [rule]))
        }
        domainsByHash[hash] = bucket
    }

    /// The lowest position below `limit` of a rule whose domain is `name` or one of its parents and whose
    /// ports include `port`; `limit` when there is none.
    func firstPosition(name: String, port: UInt16, before limit: Int) -> Int {
        var name = name
        // Safe: the buffer is only read inside the closure, at indices below its count.
        return name.withUTF8 { bytes in
            var best = limit
            var end = bytes.count
            if end > 0, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            // The hash runs from the last byte towards the first, so at each label's start it is the hash of
            // the suffix from there: one pass over the name gives every candidate.
            var hash = Self.hashSeed
            var start = end
            var labels = 0
            while start > 0 {
                start -= 1
                hash = Self.hash(hash, bytes[start])
                guard start == 0 || bytes[start - 1] == UInt8(ascii: ".") else { continue }
                labels += 1
                if labels > mostLabels { break }
                guard let bucket = domainsByHash[hash] else { continue }
                for candidate in bucket where Self.equal(candidate.domain, bytes, start..<end) {
                    best = candidate.rules.firstPosition(applyingTo: port, before: best)
                }
            }
            return best
        }
    }

    /// `name` as rules compare it: ASCII letters lower-cased, one trailing dot removed.
    static func normalizedName(_ name: String) -> [UInt8] {
        var bytes = name.utf8.map(asciiLowercased)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        return bytes
    }

    /// `byte` with an ASCII capital letter made small; every other byte (UTF-8 included) unchanged.
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    /// Whether `name[range]`, ASCII letters folded, equals `domain` (which is lower-case already).
    private static func equal(_ domain: [UInt8], _ name: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        guard domain.count == range.count else { return false }
        var offset = range.lowerBound
        for byte in domain {
            if asciiLowercased(name[offset]) != byte { return false }
            offset += 1
        }
        return true
    }

    // FNV-1a (64 bits) over the case-folded bytes: cheap, and good enough to spread the operator's domains
    // over the dictionary, which hashes the result again.
    private static let hashSeed: UInt64 = 0xCBF2_9CE4_8422_2325
    private static func hash(_ hash: UInt64, _ byte: UInt8) -> UInt64 {
        (hash ^ UInt64(asciiLowercased(byte))) &* 0x0000_0100_0000_01B3
    }
}
