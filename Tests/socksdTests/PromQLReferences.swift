/// The metric names, label names and label matchers a PromQL expression refers to, found by a small scanner
/// (not a full parser): enough for the dashboard and alert rules to be checked against a live `/metrics`.
///
/// - an identifier followed by `(`, or one of the aggregations, is a function or an aggregation; `by`, `without`, `on`, `ignoring`,
///   `group_left` and `group_right` are followed by a list of label names; `and`, `or`, `unless`, `bool` and
///   `offset` are operators; every other identifier outside braces is a metric name;
/// - `{…}` holds matchers (`label op "value"`), of the metric just before it when there is one;
/// - strings and `[…]` (ranges, subqueries: `[5m]`, `[$__rate_interval]`) hold no names; numbers are skipped.
struct PromQLReferences {
    struct Matcher: Hashable, CustomStringConvertible {
        /// The metric the braces follow; nil for braces without a name before them.
        var metric: String?
        var label: String
        /// `=`, `!=`, `=~` or `!~`.
        var operation: String
        var value: String

        var description: String { "\(metric ?? ""){\(label)\(operation)\"\(value)\"}" }
    }

    private(set) var metrics: Set<String> = []
    /// Label names in grouping lists and matchers.
    private(set) var labels: Set<String> = []
    private(set) var matchers: [Matcher] = []

    static let groupingKeywords: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right"]
    static let operatorKeywords: Set<String> = ["and", "or", "unless", "bool", "offset"]
    /// Aggregations, which may be followed by `by (…)` or `without (…)` before their `(`.
    static let aggregations: Set<String> = [
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    ]

    init(_ expression: String) {
        let characters = Array(expression)
        var index = 0
        /// The metric name just read, for the braces that may follow it.
        var pendingMetric: String?

        func skipSpaces() {
            while index < characters.count, characters[index].isWhitespace { index += 1 }
        }
        func readIdentifier() -> String {
            let start = index
            while index < characters.count, Self.isIdentifierCharacter(characters[index]) { index += 1 }
            return String(characters[start..<index])
        }
        func readString() -> String {
            let quote = characters[index]
            index += 1
            var value = ""
            while index < characters.count, characters[index] != quote {
                if characters[index] == "\\", index + 1 < characters.count { index += 1 }
                value.append(characters[index])
                index += 1
            }
            index += 1
            return value
        }

        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
                continue
            }
            if character == "{" {
                index += 1
                while index < characters.count {
                    skipSpaces()
                    if index >= characters.count || characters[index] == "}" { break }
                    if characters[index] == "," {
                        index += 1
                        continue
                    }
                    let label = readIdentifier()
                    skipSpaces()
                    var operation = ""
                    while index < characters.count, "=!~".contains(characters[index]) {
                        operation.append(characters[index])
                        index += 1
                    }
                    skipSpaces()
                    guard !label.isEmpty, !operation.isEmpty, index < characters.count, "\"'`".contains(characters[index]) else {
                        index += 1  // not a matcher: move on rather than loop
                        continue
                    }
                    let value = readString()
                    labels.insert(label)
                    matchers.append(Matcher(metric: pendingMetric, label: label, operation: operation, value: value))
                }
                index += 1
                pendingMetric = nil
                continue
            }
            pendingMetric = nil
            if "\"'`".contains(character) {
                _ = readString()
            } else if character == "[" {
                while index < characters.count, characters[index] != "]" { index += 1 }
                index += 1
            } else if character.isNumber || character == "." {
                while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "." { index += 1 }
            } else if character == "$" {
                index += 1
                _ = readIdentifier()
            } else if Self.isIdentifierCharacter(character) {
                let identifier = readIdentifier()
                skipSpaces()
                let next = index < characters.count ? characters[index] : " "
                if Self.groupingKeywords.contains(identifier) {
                    guard next == "(" else { continue }
                    index += 1
                    while index < characters.count, characters[index] != ")" {
                        skipSpaces()
                        let label = readIdentifier()
                        if label.isEmpty { index += 1 } else { labels.insert(label) }
                    }
                    index += 1
                } else if Self.operatorKeywords.contains(identifier) || Self.aggregations.contains(identifier) || next == "(" {
                    continue  // an operator, a function or an aggregation
                } else {
                    metrics.insert(identifier)
                    pendingMetric = identifier
                }
            } else {
                index += 1
            }
        }
    }

    static func isIdentifierCharacter(_ character: Character) -> Bool {
        character == "_" || character == ":" || (character.isASCII && (character.isLetter || character.isNumber))
    }

    /// The label names a Grafana legend (`{{upstream}} p99`) or an alert annotation (`{{ $labels.upstream }}`)
    /// shows.
    static func templateLabels(_ text: String) -> Set<String> {
        var found: Set<String> = []
        for pattern in [#"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"#, #"\$labels\.([A-Za-z_][A-Za-z0-9_]*)"#] {
            guard let regex = try? Regex(pattern) else { continue }  // fixed patterns: they compile
            for match in text.matches(of: regex) {
                if let name = match.output[1].substring { found.insert(String(name)) }
            }
        }
        return found
    }
}
