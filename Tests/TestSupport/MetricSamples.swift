/// The samples of a text exposition, keyed by the series as written (`name{label="value",…}`), for tests
/// that look up one series.
package struct MetricSamples: Sendable {
    package let values: [String: Double]

    package init(_ exposition: String) {
        var values: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        self.values = values
    }

    package subscript(series: String) -> Double? { values[series] }
}
