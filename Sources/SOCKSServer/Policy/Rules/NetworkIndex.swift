/// The network rules of one address family, found by hashing: for each prefix length in use, the
/// destination address is cut to that length and looked up. A lookup costs one probe per prefix length in
/// use (at most 33 for IPv4, 129 for IPv6), whatever the number of rules.
///
/// The table is a flat open-addressing one rather than a `Dictionary`, with a bit filter in front: for a
/// prefix length where the address has no network (nearly all of them) a probe is a hash of a few
/// multiplies and one bit test, with no hasher state, no array retained and no unpredictable branch. That
/// matters when a list has rules of a hundred IPv6 prefix lengths. The keys come from the operator's
/// configuration, not from clients, so an unseeded hash will do: a client chooses only what to look up, not
/// where the keys sit.
struct NetworkIndex<Bits: NetworkBits>: Sendable {
    /// One prefix length in use.
    private struct PrefixLength: Sendable {
        let length: Int
        let mask: Bits
        /// The lowest rule position with this prefix length: once a match at or below it is known, the
        /// prefix length can be skipped.
        let lowestPosition: Int
    }

    /// One network: where its rules are in `rules`. A slot with no rules is empty.
    private struct Slot: Sendable {
        var network: Bits
        var prefixLength: Int32
        var firstRule: Int32
        var ruleCount: Int32
    }

    /// A network while the table is built.
    private struct Key: Hashable {
        let network: Bits
        let prefixLength: Int
    }

    /// Ordered by `lowestPosition`, so a lookup can stop at the first that cannot improve on what it has.
    private var prefixLengths: [PrefixLength] = []
    /// A power of two in size, at most half full, so that every probe sequence ends at an empty slot soon.
    private var slots: [Slot] = []
    /// `slots.count - 1`.
    private var slotMask = 0
    /// The rules of each network together, in list order.
    private var rules: [IndexedRule] = []
    /// One bit per value of a hash's top `filterBitCount` bits (the slot comes from its low bits), set where
    /// a network in the table hashes: at least 64 bits per network, so a lookup that finds its bit clear,
    /// as all but about one in 64 misses do, skips the probe.
    private var filter: [UInt64] = []
    private var filterBitCount = 0

    /// A network rule, as `init(_:)` takes them (in list order).
    struct Entry {
        let rule: IndexedRule
        let network: Bits
        let prefixLength: Int
    }

    init(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        // Group the rules by network, keeping list order in each group and the order of first appearance.
        var groupOfKey: [Key: Int] = [:]
        var groups: [(key: Key, rules: [IndexedRule])] = []
        var lowestPositionOfLength: [Int: Int] = [:]
        for entry in entries {
            let key = Key(network: entry.network.masked(by: Bits.mask(prefixLength: entry.prefixLength)), prefixLength: entry.prefixLength)
            if let group = groupOfKey[key] {
                groups[group].rules.append(entry.rule)
            } else {
                groupOfKey[key] = groups.count
                groups.append((key, [entry.rule]))
            }
            lowestPositionOfLength[entry.prefixLength] = min(lowestPositionOfLength[entry.prefixLength] ?? .max, entry.rule.position)
        }
        prefixLengths = lowestPositionOfLength.map { length, lowest in
            PrefixLength(length: length, mask: Bits.mask(prefixLength: length), lowestPosition: lowest)
        }.sorted { $0.lowestPosition < $1.lowestPosition }

        var capacity = 4
        while capacity < groups.count * 2 { capacity *= 2 }
        slotMask = capacity - 1
        filterBitCount = capacity.trailingZeroBitCount + 5
        filter = Array(repeating: 0, count: 1 << (filterBitCount - 6))
        let empty = Slot(network: entries[0].network, prefixLength: -1, firstRule: 0, ruleCount: 0)
        slots = Array(repeating: empty, count: capacity)
        for group in groups {
            let hash = group.key.network.mixedHash(prefixLength: group.key.prefixLength)
            let filterBit = hash >> (64 - filterBitCount)
            filter[Int(filterBit >> 6)] |= 1 << (filterBit & 63)
            var slot = Int(truncatingIfNeeded: hash) & slotMask
            while slots[slot].ruleCount != 0 { slot = (slot + 1) & slotMask }
            slots[slot] = Slot(
                network: group.key.network, prefixLength: Int32(group.key.prefixLength), firstRule: Int32(rules.count),
                ruleCount: Int32(group.rules.count))
            rules += group.rules
        }
    }

    var isEmpty: Bool { prefixLengths.isEmpty }

    /// The lowest position below `limit` of a rule whose network contains `address` and whose ports
    /// include `port`; `limit` when there is none.
    func firstPosition(address: Bits, port: UInt16, before limit: Int) -> Int {
        var best = limit
        for prefixLength in prefixLengths {
            if prefixLength.lowestPosition >= best { break }
            let network = address.masked(by: prefixLength.mask)
            let hash = network.mixedHash(prefixLength: prefixLength.length)
            let filterBit = hash >> (64 - filterBitCount)
            guard filter[Int(filterBit >> 6)] & (1 << (filterBit & 63)) != 0 else { continue }
            var index = Int(truncatingIfNeeded: hash) & slotMask
            while slots[index].ruleCount != 0 {
                let slot = slots[index]
                if slot.prefixLength == prefixLength.length, slot.network == network {
                    let start = Int(slot.firstRule)
                    for rule in rules[start..<start + Int(slot.ruleCount)] {
                        if rule.position >= best { break }
                        if rule.covers(port) {
                            best = rule.position
                            break
                        }
                    }
                    break
                }
                index = (index + 1) & slotMask
            }
        }
        return best
    }
}
