/// The samples of a text exposition, keyed by the series as written (`name{label="value",…}`), for tests
/// that look up one series.
public struct MetricSamples: Sendable {
    public let values: [String: Double]

    public init(_ exposition: String) {
        var values: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        self.values = values
    }

    public subscript(series: String) -> Double? { values[series] }
}
