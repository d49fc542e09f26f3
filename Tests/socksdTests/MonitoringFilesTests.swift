import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport

/// The shipped Grafana dashboard and Prometheus alert rules against the real daemon: every metric, label
/// and label value they use is in a live daemon's `/metrics` after a short mixed load (a renamed metric
/// breaks this test), `promtool check rules` accepts the rules, and the dashboard has what an import needs.
@Suite struct MonitoringFilesTests {
    /// The names that come from routing (issue 21: named upstreams, health checks, failover), kept apart so
    /// that a failure says where a missing name comes from: `/metrics` has them only while an upstream is
    /// configured (this test's daemon has the default one). The test also fails when `/metrics` serves
    /// them and neither file uses any (the upstream panels and alerts were taken out).
    static let namesFromRouting: Set<String> = [
        "socksd_upstream_up",
        "socksd_upstream_sessions_total",
        "socksd_upstream_connect_seconds_bucket",
        "socksd_upstream_connect_seconds_sum",
        "socksd_upstream_connect_seconds_count",
    ]

    /// Labels Prometheus adds to every scraped series (the target's), so never in `/metrics` itself.
    static let targetLabels: Set<String> = ["job", "instance"]

    /// The series of an exposition: for each sample name, the label sets of its samples.
    static func series(_ exposition: String) -> [String: [[String: String]]] {
        var series: [String: [[String: String]]] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            var labels: [String: String] = [:]
            if let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") {
                // `a="x",b="y"`: values are escaped (\" \\ \n), so a quote ends a value only when unescaped.
                var rest = Substring(line[line.index(after: open)..<close])
                while let equals = rest.firstIndex(of: "=") {
                    let label = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
                    var index = rest.index(equals, offsetBy: 2, limitedBy: rest.endIndex) ?? rest.endIndex
                    var value = ""
                    while index < rest.endIndex, rest[index] != "\"" {
                        if rest[index] == "\\", rest.index(after: index) < rest.endIndex { index = rest.index(after: index) }
                        value.append(rest[index])
                        index = rest.index(after: index)
                    }
                    labels[label] = value
                    rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
                }
            }
            series[name, default: []].append(labels)
        }
        return series
    }

    /// What is wrong with `expression` against `live`: metrics it uses that are not served, labels it uses
    /// or shows that no series of its metrics has, label values it matches that no series has.
    static func problems(_ expression: MonitoringFiles.Expression, live: [String: [[String: String]]]) -> [String] {
        let references = PromQLReferences(expression.text)
        var problems: [String] = []
        if references.metrics.isEmpty { problems.append("\(expression.place): names no metric: \(expression.text)") }
        for metric in references.metrics.sorted() where live[metric] == nil {
            let origin = namesFromRouting.contains(metric) ? " (from routing, issue 21: is an upstream configured, was it renamed?)" : ""
            problems.append("\(expression.place): \(metric) is not in /metrics\(origin)")
        }
        let labelSets = references.metrics.flatMap { live[$0] ?? [] }
        for label in references.labels.union(expression.shownLabels).subtracting(targetLabels).sorted()
        where !labelSets.contains(where: { $0[label] != nil }) {
            problems.append("\(expression.place): no series of \(references.metrics.sorted()) has the label \(label)")
        }
        for matcher in references.matchers where !targetLabels.contains(matcher.label) && !matcher.value.contains("$") {
            let candidates = matcher.metric.map { live[$0] ?? [] } ?? labelSets
            let values: [String]
            switch matcher.operation {
            case "=": values = [matcher.value]
            case "=~" where matcher.value.allSatisfy({ $0.isLetter || $0.isNumber || "-_|".contains($0) }):
                values = matcher.value.split(separator: "|").map(String.init)
            default: values = []  // a negative matcher, or a pattern that is not a list of values: its label is checked above
            }
            for value in values where !candidates.contains(where: { $0[matcher.label] == value }) {
                problems.append("\(expression.place): no series has \(matcher.label)=\"\(value)\" (\(matcher))")
            }
        }
        return problems
    }

    /// A daemon with a little of everything behind it: SOCKS5, SOCKS4 and HTTP on one port, through an
    /// upstream (a second socksd; the upstream metrics of routing name it `default`), a destination rule,
    /// and metrics on a free port. After a CONNECT over each protocol, two HTTP GETs, a UDP ASSOCIATE and a
    /// UoT round trip, a denied request and a reload, every name the dashboard and the alert rules use is in
    /// its `/metrics` (the upstream ones too), and the names from routing are not served unused.
    @Test func everyNameTheDashboardAndTheAlertsUseIsInALiveDaemonsMetrics() async throws {
        let expressions = try MonitoringFiles.dashboardExpressions() + MonitoringFiles.alertExpressions()
        #expect(expressions.count > 20, "\(expressions.map(\.place))")

        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let udpEcho = try LoopbackPeers.startUDPEcho()
        defer { udpEcho.stop() }
        let body = "dashboard origin"
        let origin = try LoopbackPeers.startKeepAliveHTTP(body: body)
        defer { origin.stop() }
        let denied = try LoopbackPeers.refusingPort()
        let (upstream, upstreamProxy) = try await DaemonProcess.startOnLoopback()
        let daemon = try DaemonProcess([
            "--listen", "127.0.0.1:0", "--protocols", "socks5,socks4,http", "--metrics-listen", "127.0.0.1:0",
            "--upstream", "socks5://127.0.0.1:\(upstreamProxy.port)", "--deny-to", "127.0.0.1:\(denied.port)",
        ])
        let proxy = try await daemon.proxyAddress()
        let metrics = try await daemon.metricsAddress()

        try await SessionScript.connectEcho(through: proxy, to: echo.address)
        try await SessionScript.socks4ConnectEcho(through: proxy, to: echo.address)
        try await SessionScript.httpConnectEcho(through: proxy, to: echo.address, credentials: nil)
        try await SessionScript.httpGetTwice(through: proxy, from: origin.address, expecting: body, credentials: nil)
        try await SessionScript.udpEcho(through: proxy, to: udpEcho.address)
        try await SessionScript.uotEcho(through: proxy, version: .v2, to: udpEcho.address)
        try await SessionScript.refusedRequest(through: proxy, to: SOCKSEndpoint(SocketAddress(ip: .ipv4Loopback, port: denied.port)))
        #expect(await daemon.reload(), "no reload line: \(daemon.log)")

        // The access lines are written when the sessions end; the counters move at the same time.
        let text = try await OperationsDaemonTests.scrape(metrics) { samples in
            (samples[#"socksd_config_reloads_total{result="success"}"#] ?? 0) >= 1
                && (samples[#"socksd_sessions_total{command="udp-associate",outcome="succeeded"}"#] ?? 0) >= 1
                && (samples[#"socksd_sessions_total{command="uot",outcome="succeeded"}"#] ?? 0) >= 1
        }
        let live = Self.series(text)
        for expression in expressions {
            for problem in Self.problems(expression, live: live) { Issue.record(Comment(rawValue: problem)) }
        }

        let used = expressions.reduce(into: Set<String>()) { $0.formUnion(PromQLReferences($1.text).metrics) }
        let served = Self.namesFromRouting.filter { live[$0] != nil }
        if !served.isEmpty && used.isDisjoint(with: Self.namesFromRouting) {
            Issue.record("/metrics has \(served.sorted()) but the dashboard and the alert rules use none of them: put the upstream panels and alerts back")
        }
        #expect(try await daemon.stop() == 0)
        #expect(try await upstream.stop() == 0)
    }

    /// `promtool check rules` accepts the alert rules (Debian's `prometheus` package; a missing promtool
    /// fails the test).
    @Test func promtoolAcceptsTheAlertRules() async throws {
        guard FileManager.default.isExecutableFile(atPath: PromtoolCheck.path) else {
            Issue.record("\(PromtoolCheck.path) is not installed: run .ci/run, or apt-get install prometheus")
            return
        }
        let result = try await runCommand(PromtoolCheck.path, ["check", "rules", MonitoringFiles.alertRulesPath], includeErrors: true, timeout: .seconds(60))
        #expect(result.status == 0, "promtool check rules: \(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    /// What Grafana 10+ needs to import the dashboard with a Prometheus data source of the user's choice: a
    /// `datasource` variable of type `datasource` for Prometheus, and every panel and query using it; panel
    /// ids unique; every panel on the 24-column grid.
    @Test func theDashboardImportsWithADataSourceVariable() throws {
        let dashboard = try MonitoringFiles.dashboard()
        #expect((dashboard["schemaVersion"] as? Int ?? 0) >= 36, "Grafana 10 writes schemaVersion 36 or later")
        #expect(dashboard["title"] as? String == "socksd" && dashboard["uid"] as? String == "socksd")
        let variables = try #require((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]])
        let source = try #require(variables.first { $0["name"] as? String == "datasource" }, "no datasource variable")
        #expect(source["type"] as? String == "datasource" && source["query"] as? String == "prometheus")

        var panels: [[String: Any]] = []
        func collect(_ list: [[String: Any]]) {
            for panel in list {
                panels.append(panel)
                collect(panel["panels"] as? [[String: Any]] ?? [])
            }
        }
        collect(try #require(dashboard["panels"] as? [[String: Any]]))
        #expect(panels.count > 15)
        let ids = panels.compactMap { $0["id"] as? Int }
        #expect(ids.count == panels.count && Set(ids).count == ids.count, "every panel has an id of its own")
        for panel in panels {
            let title = panel["title"] as? String ?? "?"
            let grid = panel["gridPos"] as? [String: Int] ?? [:]
            #expect((grid["x"] ?? -1) >= 0 && (grid["w"] ?? 0) > 0 && (grid["x"] ?? 0) + (grid["w"] ?? 0) <= 24 && grid["y"] != nil, "\(title): gridPos \(grid)")
            guard panel["type"] as? String != "row" else { continue }
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title) has no query")
            for datasource in [panel["datasource"]] + targets.map({ $0["datasource"] }) {
                let object = datasource as? [String: String]
                #expect(object?["type"] == "prometheus" && object?["uid"] == "${datasource}", "\(title): data source \(String(describing: datasource))")
            }
        }
    }
}
