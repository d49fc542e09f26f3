import Foundation

/// The PromQL the shipped monitoring files use: every query of `Configuration/grafana/socksd.json` (panel
/// targets and template variables) and every expression of `Configuration/prometheus/socksd-alerts.yml`,
/// each with the label names its legend or annotations show.
enum MonitoringFiles {
    /// One expression and where it is.
    struct Expression: Sendable {
        /// Where it is: the file, and the panel or alert.
        var place: String
        var text: String
        /// Labels the legend (`{{upstream}}`), the annotations (`{{ $labels.upstream }}`) or a
        /// `label_values(…, LABEL)` variable read from its result.
        var shownLabels: Set<String>
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The repository's root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let dashboardPath = root.appendingPathComponent("Configuration/grafana/socksd.json").path
    static let alertRulesPath = root.appendingPathComponent("Configuration/prometheus/socksd-alerts.yml").path

    /// The dashboard as JSON.
    static func dashboard() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dashboardPath))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "\(dashboardPath): not a JSON object")
        }
        return object
    }

    /// Every query of the dashboard: each panel target's `expr` (with its `legendFormat`), and each query
    /// variable's `label_values(EXPRESSION, LABEL)`.
    static func dashboardExpressions() throws -> [Expression] {
        let dashboard = try dashboard()
        var found: [Expression] = []
        func walk(_ value: Any, place: String) {
            if let object = value as? [String: Any] {
                let here = (object["title"] as? String).map { "panel '\($0)'" } ?? place
                if let expression = object["expr"] as? String {
                    let legend = object["legendFormat"] as? String ?? ""
                    found.append(Expression(place: "socksd.json \(here)", text: expression, shownLabels: PromQLReferences.templateLabels(legend)))
                }
                for (key, member) in object where key != "templating" { walk(member, place: here) }
            } else if let array = value as? [Any] {
                for member in array { walk(member, place: place) }
            }
        }
        walk(dashboard, place: "dashboard")
        let variables = ((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]]) ?? []
        for variable in variables where variable["type"] as? String == "query" {
            let name = variable["name"] as? String ?? "?"
            let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String ?? ""
            guard let match = query.wholeMatch(of: #/label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)/#) else {
                throw Failure(description: "socksd.json variable '\(name)': not label_values(EXPRESSION, LABEL): \(query)")
            }
            found.append(Expression(place: "socksd.json variable '\(name)'", text: String(match.output.1), shownLabels: [String(match.output.2)]))
        }
        return found
    }

    /// Every alert's `expr` (one line each, as the file's header says), with the labels its annotations show.
    /// Throws when an alert has no one-line `expr`, so that none is left unread.
    static func alertExpressions() throws -> [Expression] {
        let text = try String(contentsOfFile: alertRulesPath, encoding: .utf8)
        var found: [Expression] = []
        var alerts = 0
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("- alert:") || trimmed.hasPrefix("- record:") {
                alerts += 1
                let name = trimmed.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
                found.append(Expression(place: "socksd-alerts.yml \(name)", text: "", shownLabels: []))
            } else if trimmed.hasPrefix("expr:") {
                let expression = trimmed.dropFirst("expr:".count).trimmingCharacters(in: .whitespaces)
                guard !found.isEmpty, found[found.count - 1].text.isEmpty, !expression.isEmpty, !"|>".contains(expression.first!) else {
                    throw Failure(description: "socksd-alerts.yml: an expr that is not one line under its alert: \(line)")
                }
                found[found.count - 1].text = expression
            } else if !found.isEmpty {
                found[found.count - 1].shownLabels.formUnion(PromQLReferences.templateLabels(trimmed))
            }
        }
        if let missing = found.first(where: { $0.text.isEmpty }) {
            throw Failure(description: "\(missing.place): no one-line expr")
        }
        guard alerts > 0 else { throw Failure(description: "socksd-alerts.yml: no alert") }
        return found
    }
}
