import AsyncSockets
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The metrics endpoint over loopback: what it serves (checked by promtool), how the counters follow real
/// sessions, `/healthz` through a shutdown, and what hostile clients can and cannot do to it.
@Suite struct MetricsEndpointTests {
    /// The metric families issue 10 names as a contract.
    static let contractFamilies = [
        "socksd_sessions_total", "socksd_sessions_active", "socksd_bytes_total", "socksd_udp_datagrams_total",
        "socksd_udp_dropped_total", "socksd_auth_failures_total", "socksd_rule_denials_total", "socksd_limit_rejections_total",
        "socksd_handshake_duration_seconds", "socksd_connect_duration_seconds", "socksd_config_reloads_total", "socksd_build_info",
        "process_open_fds", "process_resident_memory_bytes",
    ]

    @Test func metricsAfterTrafficPassPromtool() async throws {
        let metrics = try MetricsHarness()
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(metrics.harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)
        try await client.send([1, 2, 3])
        #expect(try await client.receive(exactly: 3) == [1, 2, 3])
        client.close()
        #expect(await ServerHarness.eventually { metrics.server.metrics.activeSessions == 0 })

        let response = try await HTTPTestExchange.get("/metrics", from: metrics.address)
        #expect(response.status == 200)
        #expect(response.value(of: "Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.value(of: "Content-Length") == String(response.body.utf8.count))
        #expect(response.value(of: "Connection") == "close")
        #expect(response.value(of: "Date")?.hasSuffix(" GMT") == true)
        #expect(response.trailing.isEmpty)
        for family in Self.contractFamilies {
            #expect(response.body.contains("\n# TYPE \(family) ") || response.body.hasPrefix("# HELP \(family) "), "\(family) missing")
        }
        let samples = MetricSamples(response.body)
        #expect(samples[#"socksd_build_info{version="0.1.0-test"}"#] == 1)
        #expect(samples[#"socksd_handshake_duration_seconds_bucket{le="+Inf"}"#] == 1)
        #expect(samples["socksd_connect_duration_seconds_count"] == 1)
        #expect((samples["process_open_fds"] ?? 0) > 0)
        #expect((samples["process_resident_memory_bytes"] ?? 0) > 1_000_000)
        let said = try await Promtool.check(response.body)
        #expect(said.isEmpty, "promtool lints: \(said)")
        await metrics.stop()
    }

    @Test func countersMoveAsSessionsHappen() async throws {
        let metrics = try MetricsHarness {
            $0.users = try UserDatabase(["alice": "secret"])
            $0.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "127.0.0.9")])
            $0.maxUDPAssociations = 1
        }
        let alice = SOCKSCredentials(username: "alice", password: "secret")
        let echo = try LoopbackPeers.startEcho()
        let udpEcho = try LoopbackPeers.startUDPEcho()
        defer {
            echo.stop()
            udpEcho.stop()
        }
        let start = try await metrics.scrape()
        #expect(start[#"socksd_sessions_total{command="connect",outcome="succeeded"}"#] == 0)
        #expect(start[#"socksd_bytes_total{direction="up"}"#] == 0)

        // A failed login: a session without a command, and an authentication failure.
        await #expect(throws: SOCKSTestClient.Failure.self) {
            _ = try await SOCKSTestClient.open(
                metrics.harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: "alice", password: "guess"))
        }
        #expect(try await metrics.value(of: #"socksd_sessions_total{command="none",outcome="auth-failed"}"#, settlingAt: 1) == 1)
        #expect(try await metrics.scrape()["socksd_auth_failures_total"] == 1)

        // A rule denial.
        let (denied, deniedReply) = try await SOCKSTestClient.open(
            metrics.harness.address, to: SOCKSEndpoint(try SocketAddress("127.0.0.9", port: 80)), credentials: alice)
        #expect(deniedReply.code == .notAllowed)
        denied.close()
        #expect(try await metrics.value(of: #"socksd_sessions_total{command="connect",outcome="denied"}"#, settlingAt: 1) == 1)
        #expect(try await metrics.scrape()["socksd_rule_denials_total"] == 1)

        // A CONNECT: active while open, its bytes counted as they move, then a success.
        let (client, reply) = try await SOCKSTestClient.open(metrics.harness.address, to: SOCKSEndpoint(echo.address), credentials: alice)
        #expect(reply.code == .succeeded)
        #expect(try await metrics.scrape()[#"socksd_sessions_active{command="connect"}"#] == 1)
        let payload = [UInt8](repeating: 0x5A, count: 1000)
        try await client.send(payload)
        #expect(try await client.receive(exactly: payload.count) == payload)
        #expect(try await metrics.value(of: #"socksd_bytes_total{direction="up"}"#, settlingAt: 1000) == 1000)
        #expect(try await metrics.value(of: #"socksd_bytes_total{direction="down"}"#, settlingAt: 1000) == 1000)
        client.close()
        #expect(try await metrics.value(of: #"socksd_sessions_total{command="connect",outcome="succeeded"}"#, settlingAt: 1) == 1)
        var now = try await metrics.scrape()
        #expect(now[#"socksd_sessions_active{command="connect"}"#] == 0)
        #expect(now["socksd_handshake_duration_seconds_count"] == 2, "the denied CONNECT and this one")
        #expect(now["socksd_connect_duration_seconds_count"] == 1)

        // A UDP association: a datagram each way, a fragment dropped, a second association over the limit.
        let udp = try await UDPTestClient.associate(metrics.harness.address, credentials: alice)
        try await udp.send(Array("ping".utf8), to: SOCKSEndpoint(udpEcho.address))
        #expect(try await udp.receive()?.payload == Array("ping".utf8))
        try await udp.send(Array("frag".utf8), to: SOCKSEndpoint(udpEcho.address), fragment: 1)
        #expect(try await metrics.value(of: #"socksd_udp_dropped_total{reason="fragmented"}"#, settlingAt: 1) == 1)
        await #expect(throws: SOCKSTestClient.Failure.self) {
            _ = try await UDPTestClient.associate(metrics.harness.address, credentials: alice)
        }
        #expect(try await metrics.value(of: #"socksd_udp_datagrams_total{direction="up"}"#, settlingAt: 1) == 1)
        #expect(try await metrics.value(of: #"socksd_udp_datagrams_total{direction="down"}"#, settlingAt: 1) == 1)
        #expect(try await metrics.value(of: #"socksd_sessions_active{command="udp-associate"}"#, settlingAt: 1) == 1, "the refused one ended")
        #expect(try await metrics.scrape()[#"socksd_limit_rejections_total{limit="max-udp-associations"}"#] == 1)
        udp.close()
        #expect(try await metrics.value(of: #"socksd_sessions_total{command="udp-associate",outcome="succeeded"}"#, settlingAt: 1) == 1)
        #expect(try await metrics.value(of: #"socksd_sessions_total{command="udp-associate",outcome="refused"}"#, settlingAt: 1) == 1)

        // Reloads are counted by whoever reloads.
        metrics.server.metrics.recordReload(succeeded: true)
        metrics.server.metrics.recordReload(succeeded: false)
        metrics.server.metrics.recordReload(succeeded: false)
        now = try await metrics.scrape()
        #expect(now[#"socksd_config_reloads_total{result="success"}"#] == 1)
        #expect(now[#"socksd_config_reloads_total{result="failure"}"#] == 2)
        #expect(now[#"socksd_sessions_active{command="none"}"#] == 0)
        await metrics.stop()
    }

    /// `socksd_log_lines_dropped_total` is the server logger's count of dropped lines: with the log output
    /// stuck (a full pipe) and a queue of 2 lines, most of 20 lines logged at once are dropped, and the
    /// endpoint serves the count (between the counts read before and after the scrape).
    @Test func droppedLogLinesAreServed() async throws {
        let log = try LogPipe(capacity: 2, stuck: true)
        let metrics = try MetricsHarness { $0.logger = log.logger(level: .info) }
        for index in 0..<20 { metrics.server.configuration.logger.info("line \(index)") }
        let before = log.writer.droppedLines
        #expect(before >= 10, "the queue holds 2 lines and the stuck writer a batch of at most 2: the rest is dropped")
        let served = try await metrics.scrape()["socksd_log_lines_dropped_total"]
        let after = log.writer.droppedLines
        #expect(served.map { $0 >= Double(before) && $0 <= Double(after) } == true, "served \(served.map { "\($0)" } ?? "nothing"), dropped \(before)…\(after)")
        await metrics.stop()
        _ = await log.drain()
        log.close()
    }

    @Test func healthzIsOKWhileServingThen503WhileDrainingAndStopped() async throws {
        let metrics = try MetricsHarness { $0.shutdownGracePeriod = .seconds(30) }
        #expect(await ServerHarness.eventually { metrics.server.phase == .serving })
        let serving = try await HTTPTestExchange.get("/healthz", from: metrics.address)
        #expect(serving.status == 200)
        #expect(serving.body == "ok\n")

        // An open session keeps the server draining after shutdown().
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(metrics.harness.address, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)
        metrics.server.shutdown()
        let draining = try await HTTPTestExchange.get("/healthz", from: metrics.address)
        #expect(draining.status == 503)
        #expect(draining.body == "draining\n")
        #expect(try await HTTPTestExchange.get("/metrics", from: metrics.address).status == 200, "metrics go on while draining")

        client.close()
        _ = try? await metrics.harness.task.value
        let stopped = try await HTTPTestExchange.get("/healthz", from: metrics.address)
        #expect(stopped.status == 503)
        #expect(stopped.body == "stopped\n")
        await metrics.stop()
    }

    @Test func pathsMethodsAndForms() async throws {
        let metrics = try MetricsHarness()
        #expect(await ServerHarness.eventually { metrics.server.phase == .serving })
        let address = metrics.address
        #expect(try await HTTPTestExchange.get("/nothing", from: address).status == 404)
        #expect(try await HTTPTestExchange.get("/metrics/", from: address).status == 404)
        #expect(try await HTTPTestExchange.get("/metrics?name[]=x", from: address).status == 200)

        let post = try await HTTPTestExchange.send("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", to: address)
        #expect(post.status == 405)
        #expect(post.value(of: "Allow") == "GET, HEAD")
        #expect(try await HTTPTestExchange.send("DELETE /nothing HTTP/1.1\r\nHost: a\r\n\r\n", to: address).status == 404)

        // HEAD: the length GET would send, no body.
        let head = try await HTTPTestExchange.send("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n", to: address)
        #expect(head.status == 200)
        #expect(head.value(of: "Content-Length") == "3")
        #expect(head.body.isEmpty && head.trailing.isEmpty)

        #expect(try await HTTPTestExchange.send("GET http://a:1/healthz HTTP/1.1\r\nHost: a:1\r\n\r\n", to: address).status == 200)
        #expect(try await HTTPTestExchange.send("GET /healthz HTTP/1.0\n\n", to: address).status == 200, "HTTP/1.0, bare LFs, no Host")
        #expect(try await HTTPTestExchange.send("GET /healthz HTTP/1.1\r\n\r\n", to: address).status == 400, "HTTP/1.1 needs Host")
        #expect(try await HTTPTestExchange.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", to: address).status == 505)
        await metrics.stop()
    }

    @Test func garbageHugePipelinedAndSlowRequests() async throws {
        let metrics = try MetricsHarness()
        #expect(await ServerHarness.eventually { metrics.server.phase == .serving })
        let address = metrics.address

        // Not HTTP: answered at once, not at the deadline.
        let tls: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03]
        #expect(try await HTTPTestExchange.send(tls, to: address, timeout: .seconds(5)).status == 400)
        #expect(try await HTTPTestExchange.send("GET /metrics HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", to: address).status == 400)

        // A head over 8 KiB, and one with too many fields.
        let huge = "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "a", count: 9000))\r\n\r\n"
        #expect(try await HTTPTestExchange.send(huge, to: address).status == 431)
        let many = "GET /metrics HTTP/1.1\r\nHost: a\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(try await HTTPTestExchange.send(many, to: address).status == 431)

        // Pipelined: one answer, then the close.
        let twice = String(repeating: "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", count: 2)
        let pipelined = try await HTTPTestExchange.send(twice, to: address)
        #expect(pipelined.status == 200)
        #expect(pipelined.trailing.isEmpty, "a second answer on a connection that says close")

        // A byte at a time is fine within the deadline.
        let connection = try await TCPConnection.connect(to: address)
        for byte in "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n".utf8 { try await connection.write([byte]) }
        let slowButComplete = HTTPTestExchange.parse(try await HTTPTestExchange.readUntilClosed(connection, timeout: .seconds(10)))
        connection.close()
        #expect(slowButComplete?.status == 200)

        // A head that never ends is closed at the deadline, unanswered: a second endpoint with a deadline of
        // 1 s (the default is 10), so that only this wait is short, not the exchanges above.
        let impatient = try MetricsEndpoint(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0), server: metrics.server, version: "0", requestTimeout: .seconds(1))
        let impatientTask = Task { await impatient.run() }
        let stalled = try await TCPConnection.connect(to: impatient.localAddress)
        try await stalled.write(Array("GET /metrics HTTP/1.1\r\nHost: a\r\n".utf8))
        let started = ContinuousClock.now
        let received = try await HTTPTestExchange.readUntilClosed(stalled, timeout: .seconds(10))
        stalled.close()
        #expect(received.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(await ServerHarness.eventually { impatient.openConnectionCount == 0 })
        impatient.close()
        await impatientTask.value

        #expect(try await HTTPTestExchange.get("/metrics", from: address).status == 200)
        #expect(await ServerHarness.eventually { metrics.endpoint.openConnectionCount == 0 })
        #expect(await ServerHarness.eventually { SocketCensus.descriptors(onLocalPort: address.port) == 1 }, "only the listener is left")
        await metrics.stop()
    }

    /// 100 idle connections: 64 are served, and each one beyond takes the slot of the oldest idle one, which
    /// is closed at once; a request is answered beside them, and closing them frees everything. The
    /// exchange deadline is far longer than the test waits, so every close seen is a connection giving way.
    @Test func idleConnectionsBeyondTheSlotsPushOutTheOldestAndNeverKeepARequestOut() async throws {
        let metrics = try MetricsHarness(requestTimeout: .seconds(600))
        let address = metrics.address
        var idle: [TCPConnection] = []
        for _ in 0..<100 { idle.append(try await TCPConnection.connect(to: address)) }
        // The 36 oldest gave way as the newer ones were accepted (the bound is only how long the test waits).
        for connection in idle.prefix(36) {
            #expect(try await HTTPTestExchange.readUntilClosed(connection, timeout: .seconds(60)).isEmpty)
        }
        #expect(await ServerHarness.eventually { metrics.endpoint.openConnectionCount == 64 && metrics.endpoint.connectionsAwaitingRequest == 64 })
        #expect(await ServerHarness.eventually { SocketCensus.descriptors(onLocalPort: address.port) == 65 }, "the listener and 64 connections, not \(SocketCensus.descriptors(onLocalPort: address.port))")

        let health = try await HTTPTestExchange.get("/healthz", from: address)
        #expect(health.status == 200)
        // The probe took the slot of the 37th; the newest 63 are still served.
        #expect(try await HTTPTestExchange.readUntilClosed(idle[36], timeout: .seconds(60)).isEmpty)
        #expect(await ServerHarness.eventually { metrics.endpoint.openConnectionCount == 63 })

        idle.forEach { $0.close() }
        #expect(await ServerHarness.eventually { metrics.endpoint.openConnectionCount == 0 })
        #expect(await ServerHarness.eventually { SocketCensus.descriptors(onLocalPort: address.port) == 1 }, "only the listener is left")
        #expect(try await HTTPTestExchange.get("/metrics", from: address).status == 200)
        await metrics.stop()
        #expect(SocketCensus.descriptors(onLocalPort: address.port) == 0, "close() closed the listener")
    }

    @Test func closeEndsRunAndTheExchangesInProgress() async throws {
        let metrics = try MetricsHarness()
        let idle = try await TCPConnection.connect(to: metrics.address)
        #expect(await ServerHarness.eventually { metrics.endpoint.openConnectionCount == 1 })
        metrics.endpoint.close()
        await metrics.task.value
        #expect(try await HTTPTestExchange.readUntilClosed(idle, timeout: .seconds(5)).isEmpty)
        idle.close()
        await metrics.stop()
    }

    @Test func aPortInUseFailsAtInit() async throws {
        let metrics = try MetricsHarness()
        #expect(throws: SocketError.self) {
            _ = try MetricsEndpoint(bindingTo: metrics.address, server: metrics.server, version: "0")
        }
        await metrics.stop()
    }
}
