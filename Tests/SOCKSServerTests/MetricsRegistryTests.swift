import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The registry without sockets: label mapping, histograms, the text format's escaping, the exposition's
/// shape, the server's phase.
@Suite struct MetricsRegistryTests {
    /// Each outcome's access-line words (unchanged from when the outcome was a string) and its label.
    ///
    /// Made per use, not a stored global: `SessionOutcome` is `indirect`, and LeakSanitizer does not see the
    /// tagged pointers to the payload boxes that a global array would keep until exit.
    static var outcomes: [(SessionOutcome, String, SessionOutcomeLabel)] { [
        (.succeeded, "succeeded", .succeeded), (.udpAssociation(.controlClosed), "control-closed", .succeeded),
        (.uotStream(.v2, .clientClosed), "uot-v2 client-closed", .succeeded), (.uotStream(.v1, .clientClosed), "uot-v1 client-closed", .succeeded),
        (.failed(.connectionRefused), "failed(05 connection refused)", .failed),
        (.failed(.commandNotSupported), "failed(07 command not supported)", .failed), (.failedHTTP(status: 502), "failed(http 502)", .failed),
        (.denied(AccessDenied(destination: "10.0.0.1:22", reason: "deny-to private (rule 1)")), "denied(deny-to private (rule 1))", .denied),
        (.refusedByLimit, "refused(limit)", .refused), (.authFailed, "auth-failed", .authFailed),
        (.authThrottled, "auth-throttled", .authRefused), (.authBusy, "auth-busy", .authRefused), (.authRequired, "auth-required", .authRefused),
        (.handshakeTimeout, "handshake-timeout", .handshakeTimeout),
        (.uotStream(.v2, .headerTimedOut), "uot-v2 handshake-timeout", .handshakeTimeout), (.malformed("truncated"), "malformed(truncated)", .protocolError),
        (.noAcceptableMethod, "no-acceptable-method", .protocolError),
        (.unsupportedProtocol("0x16"), "unsupported-protocol(0x16)", .protocolError),
        (.uotStream(.v1, .malformed(.frameTooLarge(70000))), "uot-v1 malformed-uot(\(UoTProtocolError.frameTooLarge(70000)))", .protocolError),
        (.clientClosed, "client-closed", .clientClosed), (.idleTimeout, "idle-timeout", .idleTimeout),
        (.udpAssociation(.idle), "udp-timeout", .idleTimeout), (.uotStream(.v2, .idle), "uot-v2 udp-timeout", .idleTimeout),
        (.cancelled, "cancelled", .cancelled), (.relayError(.socket(SocketError.disconnected)), "relay-error(\(SocketError.disconnected))", .error),
        (.uotStream(.v2, .failed("upstream ended the stream")), "uot-v2 relay-error(upstream ended the stream)", .error),
        (.udpAssociation(.failed("reset")), "relay-error(reset)", .error),
        (.handshakeError, "handshake-error", .error), (.handshakeIncomplete, "handshake-incomplete", .error),
    ] }

    @Test func outcomesMapOntoAFixedSet() {
        for (outcome, words, label) in Self.outcomes {
            #expect(outcome.description == words)
            #expect(outcome.label == label, "\(words)")
        }
    }

    @Test func commandsMapOntoAFixedSetWithUoTApart() {
        var record = SessionRecord(client: SocketAddress(ip: .ipv4Loopback, port: 1))
        #expect(SessionCommandLabel(record) == SessionCommandLabel.none)
        record.command = .connect
        record.destination = SOCKSEndpoint(address: .domain("example.com"), port: 443)
        #expect(SessionCommandLabel(record) == .connect)
        record.destination = SOCKSEndpoint(address: .domain(UoTVersion.v2.magicName), port: 0)
        #expect(SessionCommandLabel(record) == .uot)
        record.command = .bind
        #expect(SessionCommandLabel(record) == .bind)
        record.command = .udpAssociate
        #expect(SessionCommandLabel(record) == .udpAssociate)
        record.command = SOCKSCommand(rawValue: 9)
        #expect(SessionCommandLabel(record) == SessionCommandLabel.none)
    }

    @Test func sessionsMoveFromNoneToTheirCommandAndEndUnderIt() {
        let metrics = ServerMetrics()
        var record = SessionRecord(client: SocketAddress(ip: .ipv4Loopback, port: 1))
        metrics.sessionStarted()
        #expect(metrics.activeSessions(SessionCommandLabel.none) == 1)
        record.command = .udpAssociate
        record.destination = SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0)
        metrics.handshakeCompleted(record)
        #expect(metrics.activeSessions(SessionCommandLabel.none) == 0)
        #expect(metrics.activeSessions(.udpAssociate) == 1)
        record.outcome = .udpAssociation(.controlClosed)
        metrics.sessionEnded(record)
        #expect(metrics.activeSessions(.udpAssociate) == 0)
        #expect(metrics.activeSessions == 0)
        #expect(metrics.endedSessions(.udpAssociate, .succeeded) == 1)
        #expect(metrics.handshakeDurations.snapshot.count == 1)
    }

    @Test func histogramBucketsAreCumulativeWithBoundsInclusive() {
        let histogram = AtomicHistogram(bounds: [0.001, 0.01, 1])
        histogram.observe(.microseconds(500))
        histogram.observe(.milliseconds(1))  // on the bound: counted in le="0.001"
        histogram.observe(.milliseconds(5))
        histogram.observe(.seconds(2))
        histogram.observe(.seconds(-1))  // a clock step back counts as zero
        let snapshot = histogram.snapshot
        #expect(snapshot.cumulativeCounts == [3, 4, 4, 5])
        #expect(snapshot.count == 5)
        #expect(abs(snapshot.sumSeconds - 2.0065) < 1e-9)
    }

    @Test func textFormatEscapesAndFormats() {
        #expect(PrometheusTextWriter.escapingLabelValue(#"a"b\c"# + "\nd") == #"a\"b\\c\nd"#)
        #expect(PrometheusTextWriter.escapingHelp(#"say "hi" \ "# + "\n") == #"say "hi" \\ \n"#)
        #expect(PrometheusTextWriter.format(1) == "1")
        #expect(PrometheusTextWriter.format(2.5) == "2.5")
        #expect(PrometheusTextWriter.format(0.0005) == "0.0005")
        #expect(PrometheusTextWriter.format(.infinity) == "+Inf")
        #expect(PrometheusTextWriter.format(-.infinity) == "-Inf")
        #expect(PrometheusTextWriter.format(.nan) == "NaN")
    }

    @Test func expositionGroupsEverySampleUnderItsFamily() throws {
        let metrics = ServerMetrics()
        metrics.connected(since: .now - .milliseconds(3))
        let text = metrics.prometheusText(version: "1.0 \"odd\"\nversion\\")
        #expect(text.hasSuffix("\n"))
        #expect(text.contains(#"socksd_build_info{version="1.0 \"odd\"\nversion\\"} 1"#))
        var family: (name: String, type: String)?
        var seen = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") {
                let name = String(line.split(separator: " ")[2])
                #expect(seen.insert(name).inserted, "\(name) twice")
                family = nil
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                family = (String(parts[2]), String(parts[3]))
                continue
            }
            let current = try #require(family, "sample before its TYPE: \(line)")
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let allowed = current.type == "histogram" ? ["_bucket", "_sum", "_count"].map { current.name + $0 } : [current.name]
            #expect(allowed.contains(name), "\(line) under \(current.name)")
        }
        let samples = MetricSamples(text)
        #expect(samples[#"socksd_connect_duration_seconds_bucket{le="0.0025"}"#] == 0)
        #expect(samples[#"socksd_connect_duration_seconds_bucket{le="0.005"}"#] == 1)
        #expect(samples[#"socksd_connect_duration_seconds_bucket{le="+Inf"}"#] == 1)
        #expect(samples["socksd_connect_duration_seconds_count"] == 1)
        #expect(samples[#"socksd_handshake_duration_seconds_bucket{le="10"}"#] == 0)
        // Every combination of the fixed label sets is written, zero until it happens.
        #expect(text.components(separatedBy: "\nsocksd_sessions_total{").count - 1
            == SessionCommandLabel.allCases.count * SessionOutcomeLabel.allCases.count)
    }

    @Test func phaseOnlyMovesForward() {
        let lifecycle = ServerLifecycle()
        #expect(lifecycle.current == .ready)
        lifecycle.draining()  // shutdown() before run()
        lifecycle.started()
        #expect(lifecycle.current == .draining)
        lifecycle.stopped()
        lifecycle.draining()
        #expect(lifecycle.current == .stopped)
    }
}
