/// Writes the Prometheus text exposition format, version 0.0.4: per metric family a `# HELP` and a `# TYPE`
/// line, then its samples, `name{label="value",…} value`, one per line.
///
/// Label values and help texts are escaped as the format asks (`\\`, `\"` and `\n` in label values; `\\`
/// and `\n` in help), so no value can break a line or a sample.
struct PrometheusTextWriter {
    enum MetricType: String {
        case counter, gauge, histogram
    }

    private(set) var text = ""

    /// Starts a family: every sample written next belongs to it.
    mutating func family(_ name: String, _ type: MetricType, help: String) {
        text += "# HELP \(name) \(Self.escapingHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
    }

    mutating func sample(_ name: String, labels: [(String, String)] = [], _ value: Int) {
        text += "\(name)\(Self.labelSet(labels)) \(value)\n"
    }

    mutating func sample(_ name: String, labels: [(String, String)] = [], _ value: Double) {
        text += "\(name)\(Self.labelSet(labels)) \(Self.format(value))\n"
    }

    /// A whole histogram family: `_bucket` per bound and `+Inf`, `_sum` and `_count`.
    mutating func histogram(_ name: String, help: String, bounds: [Double], _ snapshot: AtomicHistogram.Snapshot) {
        family(name, .histogram, help: help)
        histogramSamples(name, bounds: bounds, snapshot)
    }

    /// One histogram's samples (`_bucket` per bound and `+Inf`, `_sum`, `_count`) with `labels` on each, for
    /// a labelled histogram family whose `family` line was written once before its first series.
    mutating func histogramSamples(_ name: String, labels: [(String, String)] = [], bounds: [Double], _ snapshot: AtomicHistogram.Snapshot) {
        for (bound, count) in zip(bounds.map(Self.format) + ["+Inf"], snapshot.cumulativeCounts) {
            sample("\(name)_bucket", labels: labels + [("le", bound)], count)
        }
        sample("\(name)_sum", labels: labels, snapshot.sumSeconds)
        sample("\(name)_count", labels: labels, snapshot.count)
    }

    /// `{a="1",b="2"}`, or nothing for no labels.
    private static func labelSet(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(escapingLabelValue($0.1))\"" }.joined(separator: ",") + "}"
    }

    static func escapingLabelValue(_ value: String) -> String {
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    static func escapingHelp(_ help: String) -> String {
        var escaped = ""
        for character in help.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// A float as Prometheus's own clients write it: whole numbers without a fraction (`1`, not `1.0`,
    /// which matters for `le`: it is compared as a string), `+Inf`, `-Inf`, `NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }
}
