extension ServerMetrics {
    /// Every metric in the Prometheus text format, version 0.0.4 (`text/plain; version=0.0.4`): the
    /// server's counters as they are now, and the process's descriptors, memory and CPU time read now.
    ///
    /// Label values come from fixed sets, and every value of a set is written (zero until it happens), so
    /// a series exists from the first scrape on.
    ///
    /// - Parameters:
    ///   - version: the `version` label of `socksd_build_info`.
    ///   - droppedLogLines: `socksd_log_lines_dropped_total`, the lines the server's log writer dropped
    ///     because its output could not keep up (`SOCKSLogger.droppedLines`; the metrics endpoint passes the
    ///     server's). It is kept by the logger, not here, since the logger outlives a reload.
    public func prometheusText(version: String, droppedLogLines: Int = 0) -> String {
        var out = PrometheusTextWriter()
        out.family("socksd_build_info", .gauge, help: "Always 1; the version label names the build.")
        out.sample("socksd_build_info", labels: [("version", version)], 1)

        out.family("socksd_sessions_active", .gauge, help: "Sessions open now, by command (none: still in the handshake).")
        for command in SessionCommandLabel.allCases {
            out.sample("socksd_sessions_active", labels: [("command", command.label)], activeSessions(command))
        }
        out.family("socksd_sessions_total", .counter, help: "Sessions that ended, by command and outcome.")
        for command in SessionCommandLabel.allCases {
            for outcome in SessionOutcomeLabel.allCases {
                out.sample("socksd_sessions_total", labels: [("command", command.label), ("outcome", outcome.label)], endedSessions(command, outcome))
            }
        }
        out.family(
            "socksd_protocol_sessions_total", .counter,
            help: "Sessions that ended, by the protocol their first byte chose (none: no byte, or one that starts no protocol).")
        for chosen in SessionProtocolLabel.allCases {
            out.sample("socksd_protocol_sessions_total", labels: [("protocol", chosen.label)], endedSessions(chosen))
        }
        out.family("socksd_bytes_total", .counter, help: "Bytes relayed (UDP: payloads); up is client to destination, down the reverse.")
        out.sample("socksd_bytes_total", labels: [("direction", "up")], bytesFromClients)
        out.sample("socksd_bytes_total", labels: [("direction", "down")], bytesToClients)
        out.family("socksd_udp_datagrams_total", .counter, help: "Datagrams relayed by UDP associations and UoT streams.")
        out.sample("socksd_udp_datagrams_total", labels: [("direction", "up")], datagramsFromClients)
        out.sample("socksd_udp_datagrams_total", labels: [("direction", "down")], datagramsToClients)
        out.family("socksd_udp_dropped_total", .counter, help: "Datagrams that UDP associations and UoT streams dropped, by reason.")
        for reason in DatagramDropReason.allCases {
            out.sample("socksd_udp_dropped_total", labels: [("reason", reason.label)], droppedDatagrams(reason))
        }

        out.family("socksd_auth_failures_total", .counter, help: "Logins with a wrong user name or password.")
        out.sample("socksd_auth_failures_total", failedLoginCount)
        out.family("socksd_auth_refusals_total", .counter, help: "Logins refused unchecked, by reason: the address was throttled, or the password checker was busy.")
        out.sample("socksd_auth_refusals_total", labels: [("reason", "throttled")], throttledLoginCount)
        out.sample("socksd_auth_refusals_total", labels: [("reason", "busy")], uncheckedLoginCount)
        out.family(
            "socksd_rule_denials_total", .counter,
            help: "Requests refused by the destination rules or for naming the server itself; denied datagrams are socksd_udp_dropped_total{reason=\"denied\"}.")
        out.sample("socksd_rule_denials_total", deniedRequestCount)
        out.family("socksd_client_denials_total", .counter, help: "Connections closed at accept: the client is not in allow-from.")
        out.sample("socksd_client_denials_total", refusedNotAllowedFrom)
        out.family(
            "socksd_proxy_protocol_rejections_total", .counter,
            help: "Connections to a PROXY protocol listener closed: from an untrusted sender, or without a valid header in time.")
        out.sample("socksd_proxy_protocol_rejections_total", labels: [("reason", "untrusted")], untrustedProxyCount)
        out.sample("socksd_proxy_protocol_rejections_total", labels: [("reason", "header")], proxyHeaderFailureCount)
        out.family("socksd_limit_rejections_total", .counter, help: "Connections and requests refused by a limit, named as its option.")
        for (limit, count) in [
            ("max-sessions", refusedOverServerLimit), ("max-sessions-per-ip", refusedOverClientLimit),
            ("new-sessions-per-ip", refusedOverRate), ("max-sessions-per-user", refusedOverUserLimit),
            ("max-udp-associations", refusedOverUDPLimit),
        ] {
            out.sample("socksd_limit_rejections_total", labels: [("limit", limit)], count)
        }

        out.histogram(
            "socksd_handshake_duration_seconds", help: "From accept to a complete request, for handshakes that completed.",
            bounds: handshakeDurations.bounds, handshakeDurations.snapshot)
        out.histogram(
            "socksd_connect_duration_seconds", help: "How long CONNECTs took to reach their destination (directly or through the upstream), for those that did.",
            bounds: connectDurations.bounds, connectDurations.snapshot)

        writeUpstreamMetrics(to: &out)

        out.family("socksd_config_reloads_total", .counter, help: "Configuration reloads, by result (failure: the old configuration stayed).")
        out.sample("socksd_config_reloads_total", labels: [("result", "success")], succeededReloadCount)
        out.sample("socksd_config_reloads_total", labels: [("result", "failure")], failedReloadCount)

        out.family("socksd_log_lines_dropped_total", .counter, help: "Log lines dropped because the log output could not keep up.")
        out.sample("socksd_log_lines_dropped_total", droppedLogLines)

        writeProcessMetrics(to: &out)
        return out.text
    }

    /// The upstreams' families, each series for every upstream the configuration names.
    private func writeUpstreamMetrics(to out: inout PrometheusTextWriter) {
        let all = upstreams.all
        guard !all.isEmpty else { return }
        out.family("socksd_upstream_up", .gauge, help: "1 while the upstream is up, 0 while it is down (routes skip it and it is probed).")
        for (name, counters) in all {
            out.sample("socksd_upstream_up", labels: [("upstream", name)], counters.up.load(ordering: .relaxed))
        }
        out.family("socksd_upstream_sessions_total", .counter, help: "Sessions that went through the upstream, by outcome.")
        for (name, counters) in all {
            for outcome in SessionOutcomeLabel.allCases {
                out.sample(
                    "socksd_upstream_sessions_total", labels: [("upstream", name), ("outcome", outcome.label)], counters.sessions[outcome.rawValue])
            }
        }
        out.family("socksd_upstream_connect_seconds", .histogram, help: "From the start of a try through the upstream to its success reply.")
        for (name, counters) in all {
            out.histogramSamples(
                "socksd_upstream_connect_seconds", labels: [("upstream", name)], bounds: counters.connectDurations.bounds,
                counters.connectDurations.snapshot)
        }
    }

    /// The standard process metrics, each left out when the system does not say.
    private func writeProcessMetrics(to out: inout PrometheusTextWriter) {
        if let descriptors = ProcessStatistics.openDescriptors {
            out.family("process_open_fds", .gauge, help: "Open file descriptors.")
            out.sample("process_open_fds", descriptors)
        }
        if let limit = ProcessStatistics.descriptorLimit {
            out.family("process_max_fds", .gauge, help: "The limit on open file descriptors.")
            out.sample("process_max_fds", limit)
        }
        if let memory = ProcessStatistics.memory {
            out.family("process_resident_memory_bytes", .gauge, help: "Resident memory in bytes.")
            out.sample("process_resident_memory_bytes", memory.resident)
            out.family("process_virtual_memory_bytes", .gauge, help: "Virtual memory in bytes.")
            out.sample("process_virtual_memory_bytes", memory.virtual)
        }
        if let seconds = ProcessStatistics.cpuSeconds {
            out.family("process_cpu_seconds_total", .counter, help: "User and system CPU time in seconds.")
            out.sample("process_cpu_seconds_total", seconds)
        }
    }
}
