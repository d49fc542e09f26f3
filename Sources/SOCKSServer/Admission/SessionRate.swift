/// A rate of new sessions, such as `20/s`: at most `count` per `interval`, in bursts of up to `count`.
public struct SessionRate: Sendable, Hashable, CustomStringConvertible {
    /// How many sessions an interval allows, which is also the largest burst.
    public var count: Int
    /// The interval the count refers to.
    public var interval: Duration

    /// A rate of `count` sessions per `interval`; `count` must be at least 1 and `interval` positive.
    public init?(count: Int, per interval: Duration) {
        guard count > 0, interval > .zero else { return nil }
        self.count = count
        self.interval = interval
    }

    /// Why a rate cannot be used.
    public struct InvalidRate: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Parses `N/s`, `N/m` or `N/h` (also `N/sec`, `N/min`, `N/hour`): `20/s`, `600/m`.
    public init(parsing text: String) throws(InvalidRate) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let units: [String: Duration] = [
            "s": .seconds(1), "sec": .seconds(1), "second": .seconds(1),
            "m": .seconds(60), "min": .seconds(60), "minute": .seconds(60),
            "h": .seconds(3600), "hour": .seconds(3600),
        ]
        guard parts.count == 2, let count = Int(parts[0]), (1...1_000_000).contains(count),
              let interval = units[parts[1].lowercased()]
        else {
            throw InvalidRate(description: "a rate is COUNT/s, COUNT/m or COUNT/h with COUNT from 1 to 1000000, such as 20/s, not '\(text)'")
        }
        self.count = count
        self.interval = interval
    }

    /// `20/s`, `600/m`, `5/h`; other intervals in seconds (`3/10s`).
    public var description: String {
        switch interval {
        case .seconds(1): "\(count)/s"
        case .seconds(60): "\(count)/m"
        case .seconds(3600): "\(count)/h"
        default: "\(count)/\(interval)"
        }
    }
}
