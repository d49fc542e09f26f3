/// A rule as the indexes of `DestinationRules` keep it: its position in the list and the ports it covers.
struct IndexedRule: Sendable {
    /// The rule's index in `DestinationRules.rules`.
    let position: Int
    let lowestPort: UInt16
    let highestPort: UInt16

    init(position: Int, ports: ClosedRange<UInt16>?) {
        self.position = position
        lowestPort = ports?.lowerBound ?? 0
        highestPort = ports?.upperBound ?? .max
    }

    func covers(_ port: UInt16) -> Bool { lowestPort <= port && port <= highestPort }
}

extension [IndexedRule] {
    /// The position of the first rule (these are in list order) that covers `port`, if it is below `limit`;
    /// otherwise `limit`.
    func firstPosition(applyingTo port: UInt16, before limit: Int) -> Int {
        for rule in self {
            if rule.position >= limit { break }
            if rule.covers(port) { return rule.position }
        }
        return limit
    }
}
