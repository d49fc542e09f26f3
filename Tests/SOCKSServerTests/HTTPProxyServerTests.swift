import AsyncSockets
import Foundation
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The HTTP proxy side of a listener, byte for byte (issue 13): raw requests over loopback to an in-process
/// server, a scripted origin (`HTTPTestOrigin`) that records what it got, and the access lines. CONNECT
/// tunnels, absolute-form forwarding with its rewritten heads, keep-alive across origins, bodies by their
/// framing, the login, every error status, and the limits.
@Suite struct HTTPProxyServerTests {
    // MARK: - Helpers

    /// A raw HTTP client: it sends exactly the bytes a test gives and reads responses by their framing
    /// (`HTTPResponseHead`, `HTTPBodyFraming`, `HTTPChunkedBodyScanner`), keeping what follows a response
    /// for the next read. Every read is bounded by `readTimeout`.
    struct Client {
        let connection: TCPConnection
        private var buffer: [UInt8] = []
        static let readTimeout: Duration = .seconds(10)

        /// How the proxy ended the connection.
        enum Ending: Equatable {
            /// A FIN: the response was complete.
            case clean
            /// A reset: what came before it was cut short.
            case reset
        }

        static func connect(to server: SocketAddress, from source: IPAddress? = nil) async throws -> Client {
            Client(connection: try await TCPConnection.connect(to: server, from: source.map { SocketAddress(ip: $0, port: 0) }))
        }

        private init(connection: TCPConnection) {
            self.connection = connection
            // Read now: once the connection is closed the kernel no longer has it.
            self.localAddress = connection.localAddress
        }

        /// The client's end, as the access line names it.
        let localAddress: SocketAddress

        func send(_ text: String) async throws {
            try await connection.write(Array(text.utf8))
        }

        func send(_ bytes: [UInt8]) async throws {
            try await connection.write(bytes)
        }

        /// Reads one response (an interim one too) to a request of `method`: its bytes, head and body.
        mutating func response(to method: String = "GET") async throws -> (text: String, head: HTTPResponseHead) {
            var headLength = 0
            var head: HTTPResponseHead?
            while head == nil {
                switch HTTPResponseHead.parse(buffer[...]) {
                case .complete(let parsed, let length):
                    head = parsed
                    headLength = length
                case .failed(let error):
                    throw error
                case .incomplete:
                    guard try await fill() else { throw SOCKSTestClient.Failure.closedEarly }
                }
            }
            let parsed = head!
            var end = headLength
            switch try HTTPBodyFraming.response(parsed, requestMethod: method).get() {
            case .none:
                break
            case .contentLength(let length):
                while buffer.count < headLength + Int(length) {
                    guard try await fill() else { throw SOCKSTestClient.Failure.closedEarly }
                }
                end += Int(length)
            case .chunked:
                var scanner = HTTPChunkedBodyScanner()
                var scanned = headLength
                scanning: while true {
                    if scanned == buffer.count, try await !fill() { throw SOCKSTestClient.Failure.closedEarly }
                    switch scanner.scan(buffer[scanned...]) {
                    case .needsMore: scanned = buffer.count
                    case .ended(let used):
                        end = scanned + used
                        break scanning
                    case .failed(let error): throw error
                    }
                }
            case .untilClose:
                let (_, ending) = try await rest()
                #expect(ending == .clean)
                end = buffer.count
            }
            defer { buffer.removeFirst(end) }
            return (String(decoding: buffer[..<end], as: UTF8.self), parsed)
        }

        /// Reads until the proxy ends the connection: what was left and arrived, and how it ended.
        mutating func rest() async throws -> (text: String, ending: Ending) {
            var ending = Ending.clean
            do {
                while try await fill() {}
            } catch SocketError.disconnected {
                ending = .reset
            }
            defer { buffer.removeAll() }
            return (String(decoding: buffer, as: UTF8.self), ending)
        }

        /// Reads exactly `count` bytes.
        mutating func bytes(_ count: Int) async throws -> String {
            while buffer.count < count {
                guard try await fill() else { throw SOCKSTestClient.Failure.closedEarly }
            }
            defer { buffer.removeFirst(count) }
            return String(decoding: buffer[..<count], as: UTF8.self)
        }

        /// Whether nothing more arrives within `wait` (the connection still open).
        func staysQuiet(for wait: Duration) async throws -> Bool {
            do {
                _ = try await withDeadline(wait) { [connection] in
                    var chunk = [UInt8](repeating: 0, count: 1024)
                    return try await connection.read(into: &chunk)
                }
                return false
            } catch SocketError.timedOut {
                return true
            }
        }

        /// One read within the deadline; false at EOF.
        private mutating func fill() async throws -> Bool {
            let chunk = try await withDeadline(Self.readTimeout) { [connection] in
                var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                let count = try await connection.read(into: &chunk)
                return Array(chunk[..<count])
            }
            buffer += chunk
            return !chunk.isEmpty
        }

        func close() {
            connection.close()
        }
    }

    static func server(_ configure: (inout SOCKSServer.Configuration) throws -> Void = { _ in }) throws -> ServerHarness {
        try ServerHarness { configuration in
            configuration.protocols = [.socks5, .http]
            try configure(&configuration)
        }
    }

    /// The access lines of the sessions from `client` (by its address, `IP:PORT`), once `count` are logged.
    static func accessLines(_ harness: ServerHarness, client: some CustomStringConvertible, count: Int = 1) async -> [String] {
        let needle = "info session client=\(client) "
        _ = await ServerHarness.eventually { harness.log.all.filter { $0.hasPrefix(needle) }.count >= count }
        return harness.log.all.filter { $0.hasPrefix(needle) }
    }

    /// A response the proxy writes itself: its text body is the code and reason.
    static func proxyResponse(_ code: Int, _ reason: String, authenticate: Bool = false) -> String {
        let body = "\(code) \(reason)\n"
        return "HTTP/1.1 \(code) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + (authenticate ? "Proxy-Authenticate: Basic realm=\"socksd\"\r\n" : "") + "Connection: close\r\n\r\n" + body
    }

    /// What the client gets for `/fixed` on a kept connection: the origin's hop-by-hop fields gone.
    static func fixedResponse(_ origin: HTTPTestOrigin, keepAlive: Bool = true) -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(origin.fixedBody.utf8.count)\r\n"
            + "Server: test-origin\r\nConnection: \(keepAlive ? "keep-alive" : "close")\r\n\r\n\(origin.fixedBody)"
    }

    /// `GET http://ORIGIN/PATH` with a `Host`, as a client sends it through a proxy.
    static func get(_ origin: HTTPTestOrigin, _ path: String, fields: String = "") -> String {
        "GET \(origin.base)\(path) HTTP/1.1\r\nHost: \(origin.address)\r\n\(fields)\r\n"
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Proxy-Authorization: Basic \(Data("\(user):\(password)".utf8).base64EncodedString())\r\n"
    }

    static let second = IPAddress("127.0.0.2")!
    static let third = IPAddress("127.0.0.3")!

    // MARK: - CONNECT

    /// The bytes after the head in the same write are the tunnel's first; then bytes flow both ways.
    @Test func connectTunnelsWithEarlyData() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("CONNECT \(echo.address) HTTP/1.1\r\nHost: \(echo.address)\r\nUser-Agent: raw\r\n\r\nearly")
        #expect(try await client.bytes(39 + 5) == "HTTP/1.1 200 Connection established\r\n\r\nearly")
        try await client.send("later")
        #expect(try await client.bytes(5) == "later")
        client.close()
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" protocol=http user=- command=CONNECT destination=\(echo.address) via=direct up=10 down=10 "), "\(line)")
        #expect(line.hasSuffix(" outcome=succeeded"), "\(line)")
    }

    @Test func connectToARefusingPortIs502() async throws {
        let refusing = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(refusing) {} }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("CONNECT 127.0.0.1:\(refusing.port) HTTP/1.1\r\nHost: 127.0.0.1:\(refusing.port)\r\n\r\n")
        #expect(try await client.rest() == (Self.proxyResponse(502, "Bad Gateway"), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=CONNECT destination=127.0.0.1:\(refusing.port) ") && line.contains(" outcome=failed("), "\(line)")
    }

    @Test func aDeniedConnectIs403() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server { $0.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "127.0.0.1:\(echo.address.port)")]) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("CONNECT \(echo.address) HTTP/1.1\r\nHost: \(echo.address)\r\n\r\n")
        #expect(try await client.rest() == (Self.proxyResponse(403, "Forbidden"), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=CONNECT destination=\(echo.address) ") && line.contains(" outcome=denied("), "\(line)")
        #expect(harness.server.metrics.prometheusText(version: "t").contains(#"socksd_protocol_sessions_total{protocol="http"} 1"#))
    }

    // MARK: - Forwarding

    /// The origin gets the origin-form target, the URI's `Host`, no hop-by-hop field and `Connection:
    /// keep-alive`; the client gets the body byte for byte, without the origin's hop-by-hop fields.
    @Test func anAbsoluteFormRequestIsRewrittenBothWays() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        let request = "GET \(origin.base)/fixed?q=1 HTTP/1.1\r\nHost: wrong.example\r\nUser-Agent: raw\r\nProxy-Connection: keep-alive\r\n"
            + Self.basic("nobody", "x") + "Connection: X-Private, TE\r\nX-Private: drop me\r\nKeep-Alive: 300\r\nTE: trailers\r\n"
            + "Upgrade: websocket\r\nAccept: */*\r\n\r\n"
        try await client.send(request)
        let response = try await client.response()
        #expect(response.text == Self.fixedResponse(origin))
        let received = try #require(origin.requests.first)
        #expect(received.headText == "GET /fixed?q=1 HTTP/1.1\r\nHost: \(origin.address)\r\nUser-Agent: raw\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
        client.close()
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" protocol=http user=- command=GET destination=\(origin.address) via=direct up=\(received.rawHead.count) down=\(response.text.utf8.count) "), "\(line)")
        #expect(line.hasSuffix(" outcome=succeeded"), "\(line)")
    }

    /// Each request goes to its own origin; a kept origin connection serves the next request to it, and the
    /// proxy holds one origin connection at a time. One access line per request, with its destination and bytes.
    @Test func keepAliveAcrossTwoOrigins() async throws {
        let first = try HTTPTestOrigin(name: "a")
        defer { first.stop() }
        let second = try HTTPTestOrigin(name: "b")
        defer { second.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        var sizes: [(up: Int, down: Int)] = []
        for origin in [first, second, first] {
            try await client.send(Self.get(origin, "/fixed"))
            let response = try await client.response()
            #expect(response.text == Self.fixedResponse(origin))
            sizes.append((try #require(origin.requests.last).rawHead.count, response.text.utf8.count))
        }
        #expect(first.requests.map(\.connection) == [1, 2] && second.requests.map(\.connection) == [1])
        client.close()
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 3)
        #expect(lines.count == 3)
        for (line, (origin, size)) in zip(lines, zip([first, second, first], sizes)) {
            #expect(line.contains(" command=GET destination=\(origin.address) via=direct up=\(size.up) down=\(size.down) "), "\(line)")
            #expect(line.hasSuffix(" outcome=succeeded"), "\(line)")
        }
    }

    /// Two requests in one write: answered in order over one origin connection.
    @Test func aPipelinedPairIsAnsweredInOrder() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed") + Self.get(origin, "/echo", fields: "Content-Length: 3\r\n") + "abc")
        #expect(try await client.response().text == Self.fixedResponse(origin))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc")
        #expect(origin.requests.map(\.connection) == [1, 1])
        #expect(try await client.staysQuiet(for: .milliseconds(200)))
        client.close()
        #expect(await Self.accessLines(harness, client: client.localAddress, count: 2).count == 2)
    }

    /// Two pipelined requests (the second with a body) sent one byte per write, so the proxy's reads of the
    /// heads (through the connection's chunk sequence) end mid-head over and over: each head is put
    /// together across its reads, the body and the second request after it keep their place, and both
    /// are answered in order over one origin connection.
    @Test func headsSentOneBytePerWriteAreServed() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        // Room for about 190 writes on a loaded machine, where a 1 ms pause can take far longer.
        let harness = try Self.server { $0.handshakeTimeout = .seconds(120) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        let first = Self.get(origin, "/fixed")
        let second = Self.get(origin, "/echo", fields: "Content-Length: 3\r\n")
        for byte in Array((first + second + "abc").utf8) {
            try await client.send([byte])
            // A pause between writes (not a deadline): each byte tends to arrive in a read of its own.
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(try await client.response().text == Self.fixedResponse(origin))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc")
        #expect(origin.requests.map(\.connection) == [1, 1])
        #expect(origin.requests.map(\.rawBody) == [[], Array("abc".utf8)])
        client.close()
        #expect(await Self.accessLines(harness, client: client.localAddress, count: 2).count == 2)
    }

    /// HTTP/1.0 without `keep-alive` (and without `Host`): `Host` from the URI, and the close after the response.
    @Test func http10WithoutKeepAliveClosesAfterTheResponse() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("GET \(origin.base)/fixed HTTP/1.0\r\nAccept: */*\r\n\r\n")
        #expect(try await client.rest() == (Self.fixedResponse(origin, keepAlive: false), .clean))
        #expect(origin.requests.first?.headText == "GET /fixed HTTP/1.0\r\nHost: \(origin.address)\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func aConnectionCloseRequestCloses() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed", fields: "Connection: close\r\n"))
        #expect(try await client.rest() == (Self.fixedResponse(origin, keepAlive: false), .clean))
        // The proxy keeps its own connection to the origin as it sees fit.
        #expect(origin.requests.first?.headText == "GET /fixed HTTP/1.1\r\nHost: \(origin.address)\r\nConnection: keep-alive\r\n\r\n")
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.hasSuffix(" outcome=succeeded"), "\(line)")
    }

    /// A `CONNECT` after a forwarded request ends the series with a tunnel, whose access line has its own bytes.
    @Test func aConnectAfterAForwardedRequestTunnels() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed"))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        try await client.send("CONNECT \(echo.address) HTTP/1.1\r\nHost: \(echo.address)\r\n\r\nping")
        #expect(try await client.bytes(39 + 4) == "HTTP/1.1 200 Connection established\r\n\r\nping")
        client.close()
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 2)
        #expect(lines.count == 2)
        #expect(lines.first?.contains(" command=GET destination=\(origin.address) ") == true)
        #expect(lines.last?.contains(" command=CONNECT destination=\(echo.address) via=direct up=4 down=4 ") == true, "\(lines)")
    }

    /// A next request that is no request is answered 400 and has its own access line; the one before keeps its outcome.
    @Test func aBadSecondRequestHasItsOwnAccessLine() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed"))
        let response = try await client.response()
        #expect(response.text == Self.fixedResponse(origin))
        try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await client.rest() == (Self.proxyResponse(400, "Bad Request"), .clean))
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 2)
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.contains(" command=GET destination=\(origin.address) via=direct up=\(origin.requests[0].rawHead.count) down=\(response.text.utf8.count) ") == true, "\(lines)")
        #expect(lines.first?.hasSuffix(" outcome=succeeded") == true, "\(lines)")
        #expect(lines.last?.contains(" command=- destination=- via=- up=0 down=0 ") == true, "\(lines)")
        #expect(lines.last?.hasSuffix(" outcome=failed(http 400)") == true, "\(lines)")
    }

    /// The origin closed the kept connection (its idle timeout): the next request to it goes out again on a
    /// new connection, unseen by the client.
    @Test func aKeptOriginConnectionTheOriginClosedIsRetried() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/drop"))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\ndrop")
        // Until the origin's close has reached the proxy.
        try await Task.sleep(for: .milliseconds(100))
        try await client.send(Self.get(origin, "/fixed"))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        #expect(origin.requests.map(\.connection) == [1, 2])
    }

    /// A POST is not sent again on its own (RFC 9110 §9.2.2): the origin may have acted on it before it
    /// closed the kept connection; the client gets 502 and decides.
    @Test func aPostOnAKeptConnectionTheOriginClosedIsNotRetried() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/drop"))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\ndrop")
        // Until the origin's close has reached the proxy.
        try await Task.sleep(for: .milliseconds(100))
        try await client.send("POST \(origin.base)/fixed HTTP/1.1\r\nHost: \(origin.address)\r\n\r\n")
        #expect(try await client.rest() == (Self.proxyResponse(502, "Bad Gateway"), .clean))
        #expect(origin.requests.count == 1)
    }

    /// A client that resets its connection while the origin has yet to answer ends the session at once: the
    /// outcome is the client's close, not an error writing the late answer to a closed socket. (A FIN alone
    /// is a half-close: the answer still comes, below.)
    @Test func aClientHangingUpWhileTheOriginThinksEndsTheSession() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        let address: SocketAddress
        do {
            let client = try await Client.connect(to: harness.address)
            address = client.localAddress
            try await client.send(Self.get(origin, "/slow"))
            // The request is with the origin (generous: the suite under AddressSanitizer is slow).
            #expect(await ServerHarness.eventually(.seconds(60)) { origin.requests.count == 1 })
            // The reset goes out as the socket is released, at the end of this scope.
            client.connection.abort()
        }
        let line = try #require(await Self.accessLines(harness, client: address).first)
        #expect(line.hasSuffix(" outcome=client-closed"), "\(line)")
    }

    /// A client that half-closes (`shutdown(SHUT_WR)`) after a complete request still gets the whole answer,
    /// then the proxy's FIN; the request succeeded. The origin answers late (`/slow`), so the FIN has long
    /// reached the proxy while it waits.
    @Test(arguments: [0, 1])
    func aHalfCloseAfterACompleteRequestStillGetsTheAnswer(minorVersion: Int) async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("GET \(origin.base)/slow HTTP/1.\(minorVersion)\r\nHost: \(origin.address)\r\n\r\n")
        client.connection.shutdownWrite()
        let connection = minorVersion == 0 ? "close" : "keep-alive"
        #expect(try await client.rest() == ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: \(connection)\r\n\r\nslow\n", .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=GET ") && line.hasSuffix(" outcome=succeeded"), "\(line)")
    }

    /// Two pipelined requests and a FIN behind them: both are answered, in order, then the proxy closes.
    @Test func pipelinedRequestsBeforeAHalfCloseAreAllAnswered() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/slow") + Self.get(origin, "/fixed"))
        client.connection.shutdownWrite()
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nslow\n")
        #expect(try await client.rest() == (Self.fixedResponse(origin), .clean))
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 2)
        #expect(lines.count == 2 && lines.allSatisfy { $0.hasSuffix(" outcome=succeeded") }, "\(lines)")
    }

    /// A FIN inside a request (its head, or its body) is no half-close: the request is cut, nothing reaches
    /// the origin whole, and the outcome is the client's close.
    @Test(arguments: ["GET /slow HTTP/1.1\r\nHost: ", "POST /echo HTTP/1.1\r\nHost: ORIGIN\r\nContent-Length: 10\r\n\r\nhalf"])
    func aFINInsideARequestIsAnError(partial: String) async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        let request = partial.replacingOccurrences(of: " /", with: " \(origin.base)/").replacingOccurrences(of: "ORIGIN", with: "\(origin.address)")
        try await client.send(request)
        client.connection.shutdownWrite()
        #expect(try await client.rest() == ("", .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.hasSuffix(" outcome=client-closed"), "\(line)")
        #expect(origin.requests.isEmpty)
    }

    /// A chunked request body that breaks its framing is the client's error: 400, and its own outcome.
    @Test func aBrokenChunkedRequestBodyIs400() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("POST \(origin.base)/echo HTTP/1.1\r\nHost: \(origin.address)\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(try await client.rest() == (Self.proxyResponse(400, "Bad Request"), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=POST ") && line.hasSuffix(" outcome=failed(http 400)"), "\(line)")
    }

    /// An origin's `Connection: close` ends the origin connection, not the client's: the next request to
    /// that origin goes out on a new one.
    @Test func anOriginsCloseDoesNotEndTheClientConnection() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/close"))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nbye\n")
        try await client.send(Self.get(origin, "/fixed"))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        #expect(origin.requests.map(\.connection) == [1, 2])
    }

    /// The handshake deadline bounds the wait for a request head, not for the origin's answer.
    @Test func aSlowOriginOutlastsTheHandshakeDeadline() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server { $0.handshakeTimeout = .seconds(1) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/slow"))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nslow\n")
    }

    @Test func aDeniedForwardedRequestIs403() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server { $0.destinationRules = DestinationRules([try DestinationRule(action: .deny, parsing: "127.0.0.1:\(origin.address.port)")]) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed"))
        #expect(try await client.rest() == (Self.proxyResponse(403, "Forbidden"), .clean))
        #expect(origin.requests.isEmpty)
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=GET destination=\(origin.address) ") && line.contains(" outcome=denied("), "\(line)")
    }

    // MARK: - Bodies

    @Test func aPostBodyWithContentLengthPassesUnchanged() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        let body = "name=value&x=\u{e9}"
        try await client.send("POST \(origin.base)/echo HTTP/1.1\r\nHost: \(origin.address)\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body.prefix(4))
        try await Task.sleep(for: .milliseconds(50))
        try await client.send(String(body.dropFirst(4)))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: keep-alive\r\n\r\n\(body)")
        let received = try #require(origin.requests.first)
        #expect(received.headText == "POST /echo HTTP/1.1\r\nHost: \(origin.address)\r\nContent-Length: \(body.utf8.count)\r\nConnection: keep-alive\r\n\r\n")
        #expect(received.rawBody == Array(body.utf8))
        client.close()
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=POST ") && line.contains(" up=\(received.rawHead.count + received.rawBody.count) "), "\(line)")
    }

    /// The chunked request body reaches the origin as sent: the same chunks, extensions and trailer.
    @Test func aChunkedRequestBodyPassesUnchanged() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        let chunks = "4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n"
        try await client.send("POST \(origin.base)/echo HTTP/1.1\r\nHost: \(origin.address)\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks.prefix(9))
        try await Task.sleep(for: .milliseconds(50))
        try await client.send(String(chunks.dropFirst(9)))
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: \(chunks.utf8.count)\r\nConnection: keep-alive\r\n\r\n\(chunks)")
        let received = try #require(origin.requests.first)
        #expect(received.headText == "POST /echo HTTP/1.1\r\nHost: \(origin.address)\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
        #expect(String(decoding: received.rawBody, as: UTF8.self) == chunks)
    }

    /// A chunked response passes as sent, and the connection serves the next request after it.
    @Test func aChunkedResponsePassesUnchanged() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/chunked"))
        #expect(try await client.response().text
            == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
        try await client.send(Self.get(origin, "/fixed"))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        #expect(origin.requests.map(\.connection) == [1, 1])
    }

    /// A body ended by the origin's close ends the client connection too, cleanly.
    @Test func aCloseDelimitedResponseClosesTheClientConnection() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/until-close"))
        #expect(try await client.rest() == ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the close\n", .clean))
    }

    /// HEAD, 204 and 304 have no body whatever their fields say: pipelined, each answer is its head alone.
    @Test func headNoContentAndNotModifiedHaveNoBody() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(
            "HEAD \(origin.base)/fixed HTTP/1.1\r\nHost: \(origin.address)\r\n\r\n" + Self.get(origin, "/no-content") + Self.get(origin, "/not-modified")
                + Self.get(origin, "/fixed"))
        #expect(try await client.response(to: "HEAD").text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\nConnection: keep-alive\r\n\r\n")
        #expect(try await client.response().text == "HTTP/1.1 204 No Content\r\nServer: test-origin\r\nConnection: keep-alive\r\n\r\n")
        #expect(try await client.response().text == "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\nConnection: keep-alive\r\n\r\n")
        #expect(try await client.response().text == Self.fixedResponse(origin))
        #expect(origin.requests.map(\.connection) == [1, 1, 1, 1])
    }

    /// `Expect: 100-continue`: one `100 Continue` (the proxy's; the origin's own is not passed on twice),
    /// then the body goes out and the final response comes back.
    @Test func expectContinueGetsOneContinueThenTheResponse() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("POST \(origin.base)/echo HTTP/1.1\r\nHost: \(origin.address)\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        #expect(try await client.bytes(25) == "HTTP/1.1 100 Continue\r\n\r\n")
        try await client.send("hello")
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello")
        #expect(origin.requests.first?.headText == "POST /echo HTTP/1.1\r\nHost: \(origin.address)\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n")
        #expect(try await client.staysQuiet(for: .milliseconds(200)))
    }

    /// An HTTP/1.0 client gets no 1xx (RFC 9110 §15.2): it ignores `Expect` and sends its body at once.
    @Test func anHTTP10ClientGetsNoContinue() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("POST \(origin.base)/echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        #expect(try await client.rest() == ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", .clean))
    }

    /// Interim responses other than 100 pass on before the final one.
    @Test func earlyHintsPassBeforeTheResponse() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/hints"))
        #expect(try await client.response().text == "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nConnection: keep-alive\r\n\r\n")
        #expect(try await client.response().text == "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhinted")
    }

    // MARK: - Login

    /// No login: 407 with the challenge, outcome auth-required, and no failed login counted.
    @Test func noLoginIsChallenged() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server { $0.users = try UserDatabase(["alice": "secret"]) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed"))
        #expect(try await client.rest() == (Self.proxyResponse(407, "Proxy Authentication Required", authenticate: true), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" protocol=http user=- command=GET ") && line.hasSuffix(" outcome=auth-required"), "\(line)")
        #expect(harness.server.metrics.failedLoginCount == 0)
        #expect(origin.requests.isEmpty)
    }

    @Test func aWrongLoginIsChallengedAndCounted() async throws {
        let harness = try Self.server { $0.users = try UserDatabase(["alice": "secret"]) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n" + Self.basic("alice", "wrong") + "\r\n")
        #expect(try await client.rest() == (Self.proxyResponse(407, "Proxy Authentication Required", authenticate: true), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" user=alice command=CONNECT ") && line.hasSuffix(" outcome=auth-failed"), "\(line)")
        #expect(harness.server.metrics.failedLoginCount == 1)
    }

    /// The right login is served (and not passed on). Each request on a kept connection is judged by its own
    /// login: another user's right one makes the request that user's (a tunnel too), and each access line
    /// names the user of its request.
    @Test func eachRequestOnAKeptConnectionIsItsOwnLoginsRequest() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let harness = try Self.server { $0.users = try UserDatabase(["alice": "secret", "bob": "other"]) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        for (user, password) in [("alice", "secret"), ("alice", "secret"), ("bob", "other"), ("alice", "secret")] {
            try await client.send(Self.get(origin, "/fixed", fields: Self.basic(user, password)))
            #expect(try await client.response().text == Self.fixedResponse(origin))
        }
        #expect(origin.requests.count == 4)
        #expect(origin.requests.allSatisfy { !$0.headText.lowercased().contains("proxy-authorization") })
        try await client.send("CONNECT \(echo.address) HTTP/1.1\r\nHost: \(echo.address)\r\n" + Self.basic("bob", "other") + "\r\nping")
        #expect(try await client.bytes(39 + 4) == "HTTP/1.1 200 Connection established\r\n\r\nping")
        #expect(await ServerHarness.eventually { harness.server.openSessionSummary().contains { $0.contains(" user=bob command=connect destination=\(echo.address) ") } })
        client.close()
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 5)
        #expect(lines.count == 5, "\(lines)")
        for (line, user) in zip(lines, ["alice", "alice", "bob", "alice"]) {
            #expect(line.contains(" user=\(user) command=GET ") && line.hasSuffix(" outcome=succeeded"), "\(lines)")
        }
        #expect(lines.last?.contains(" user=bob command=CONNECT destination=\(echo.address) via=direct up=4 down=4 ") == true, "\(lines)")
        #expect(harness.server.metrics.failedLoginCount == 0)
    }

    /// A later request with a wrong password, or none, on a connection alice opened: 407 and the close, and
    /// its access line names what a first request's would (the user it tried, with `auth-failed`; none, with
    /// `auth-required`), never alice. A wrong one is a failed login.
    @Test(arguments: [("bob", "wrong", "bob", "auth-failed"), ("alice", "wrong", "alice", "auth-failed"), (nil, nil, "-", "auth-required")])
    func aLaterRequestWithAWrongOrNoLoginIsChallenged(user: String?, password: String?, logged: String, outcome: String) async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server { $0.users = try UserDatabase(["alice": "secret", "bob": "other"]) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        let login = user.map { Self.basic($0, password ?? "") } ?? ""
        try await client.send(Self.get(origin, "/fixed", fields: login))
        #expect(try await client.rest() == (Self.proxyResponse(407, "Proxy Authentication Required", authenticate: true), .clean))
        #expect(origin.requests.count == 1)
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 2)
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.contains(" user=alice command=GET ") == true && lines.first?.hasSuffix(" outcome=succeeded") == true, "\(lines)")
        #expect(lines.last?.contains(" user=\(logged) command=GET ") == true && lines.last?.hasSuffix(" outcome=\(outcome)") == true, "\(lines)")
        #expect(harness.server.metrics.failedLoginCount == (user == nil ? 0 : 1))
    }

    /// A later request of another user is held to that user's rules, not to those of the user before.
    @Test func aLaterRequestOfAnotherUserIsHeldToThatUsersRules() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server {
            $0.users = try UserDatabase(["alice": "secret", "bob": "other"])
            $0.userPolicies = ["bob": UserPolicy(destinationRules: DestinationRules([try DestinationRule(action: .deny, parsing: "127.0.0.1:\(origin.address.port)")]))]
        }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        try await client.send(Self.get(origin, "/fixed", fields: Self.basic("bob", "other")))
        #expect(try await client.rest() == (Self.proxyResponse(403, "Forbidden"), .clean))
        #expect(origin.requests.count == 1)
        let lines = await Self.accessLines(harness, client: client.localAddress, count: 2)
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.last?.contains(" user=bob command=GET ") == true && lines.last?.hasSuffix(" outcome=denied(deny-to 127.0.0.1:\(origin.address.port) (user rule 1))") == true, "\(lines)")
    }

    /// A connection that alice opened and bob's request took over counts as bob's session under the per-user
    /// limit, and no longer as alice's.
    @Test func aLaterRequestOfAnotherUserMovesTheSessionToThatUsersLimit() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server {
            $0.users = try UserDatabase(["alice": "secret", "bob": "other"])
            $0.maxSessionsPerUser = 1
        }
        defer { Task { await harness.stop() } }
        var first = try await Client.connect(to: harness.address)
        defer { first.close() }
        try await first.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await first.response().text == Self.fixedResponse(origin))
        try await first.send(Self.get(origin, "/fixed", fields: Self.basic("bob", "other")))
        #expect(try await first.response().text == Self.fixedResponse(origin))
        // The first connection stays open, now bob's: alice has no session, bob has one.
        var second = try await Client.connect(to: harness.address)
        defer { second.close() }
        try await second.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await second.response().text == Self.fixedResponse(origin))
        try await second.send(Self.get(origin, "/fixed", fields: Self.basic("bob", "other")))
        #expect(try await second.rest() == (Self.proxyResponse(403, "Forbidden"), .clean))
        #expect(harness.server.metrics.refusedOverUserLimit == 1)
        let lines = await Self.accessLines(harness, client: second.localAddress, count: 2)
        #expect(lines.last?.contains(" user=bob command=GET ") == true && lines.last?.hasSuffix(" outcome=refused(limit)") == true, "\(lines)")
    }

    /// After as many wrong logins as `loginFailureLimit` from one IP, even the right one is refused, unchecked.
    @Test func wrongLoginsThrottleTheirIP() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server {
            $0.users = try UserDatabase(["alice": "secret"])
            $0.loginFailureLimit = 3
            $0.loginBackoff = .seconds(60)
        }
        defer { Task { await harness.stop() } }
        let challenge = Self.proxyResponse(407, "Proxy Authentication Required", authenticate: true)
        for password in ["a", "b", "c", "secret"] {
            var client = try await Client.connect(to: harness.address, from: Self.second)
            try await client.send(Self.get(origin, "/fixed", fields: Self.basic("alice", password)))
            #expect(try await client.rest() == (challenge, .clean))
            client.close()
        }
        #expect(harness.server.metrics.failedLoginCount == 3)
        #expect(harness.server.metrics.throttledLoginCount == 1)
        var other = try await Client.connect(to: harness.address, from: Self.third)
        defer { other.close() }
        try await other.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await other.response().text == Self.fixedResponse(origin))
        #expect(origin.requests.count == 1)
    }

    // MARK: - Errors

    @Test(arguments: [
        ("G\u{1}\u{2}", 400, "Bad Request"),
        ("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "Bad Request"),
        ("GET https://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501, "Not Implemented"),
        ("GET http://127.0.0.1/ HTTP/2.0\r\n", 505, "HTTP Version Not Supported"),
        ("POST http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Bad Request"),
    ])
    func aRequestThatCannotBeServedIsAnswered(request: String, code: Int, reason: String) async throws {
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(request)
        #expect(try await client.rest() == (Self.proxyResponse(code, reason), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" protocol=http ") && line.hasSuffix(" outcome=failed(http \(code))"), "\(line)")
        #expect(harness.log.all.contains { $0.hasPrefix("warning session \(client.localAddress): handshake failed: HTTP request answered \(code): ") })
    }

    /// A head over 16 KiB, sent in pieces, is refused once the limit is reached.
    @Test func aHeadOver16KiBIs431() async throws {
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send("GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        let field = "X-Filler: " + String(repeating: "f", count: 1000) + "\r\n"
        for _ in 0..<17 { try await client.send(field) }
        let (text, _) = try await client.rest()
        #expect(text == Self.proxyResponse(431, "Request Header Fields Too Large"))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.hasSuffix(" outcome=failed(http 431)"), "\(line)")
    }

    /// A head never finished is closed at the handshake deadline (1 s here, waited out on purpose).
    @Test func anUnfinishedHeadIsClosedAtTheHandshakeDeadline() async throws {
        let harness = try Self.server { $0.handshakeTimeout = .seconds(1) }
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        let start = ContinuousClock.now
        try await client.send("GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        #expect(try await client.rest() == ("", .clean))
        #expect(ContinuousClock.now - start >= .milliseconds(900))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.hasSuffix(" outcome=handshake-timeout"), "\(line)")
    }

    @Test(arguments: ["/no-response", "/bad-head"])
    func anOriginWithoutAValidResponseIs502(path: String) async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, path))
        #expect(try await client.rest() == (Self.proxyResponse(502, "Bad Gateway"), .clean))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" command=GET destination=\(origin.address) ") && line.hasSuffix(" outcome=failed(http 502)"), "\(line)")
    }

    /// The origin closing inside a body with a length: the client's connection is cut with a reset, so that
    /// the truncation cannot pass for the end of a response.
    @Test func anOriginClosingMidBodyCutsTheClientConnection() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(Self.get(origin, "/cut"))
        #expect(try await client.rest() == ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n0123456789", .reset))
        let line = try #require(await Self.accessLines(harness, client: client.localAddress).first)
        #expect(line.contains(" outcome=relay-error("), "\(line)")
    }

    // MARK: - Limits

    /// The per-user session limit holds for HTTP sessions: a second one of the user's is refused 403.
    @Test func theSessionLimitPerUserAppliesToHTTP() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try Self.server {
            $0.users = try UserDatabase(["alice": "secret"])
            $0.maxSessionsPerUser = 1
        }
        defer { Task { await harness.stop() } }
        var first = try await Client.connect(to: harness.address)
        defer { first.close() }
        try await first.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await first.response().text == Self.fixedResponse(origin))
        // The first connection stays open for its next request: alice has a session.
        var second = try await Client.connect(to: harness.address)
        defer { second.close() }
        try await second.send(Self.get(origin, "/fixed", fields: Self.basic("alice", "secret")))
        #expect(try await second.rest() == (Self.proxyResponse(403, "Forbidden"), .clean))
        #expect(harness.server.metrics.refusedOverUserLimit == 1)
        let line = try #require(await Self.accessLines(harness, client: second.localAddress).first)
        #expect(line.contains(" user=alice command=GET ") && line.hasSuffix(" outcome=refused(limit)"), "\(line)")
    }

    /// Behind a PROXY-protocol listener the access line names the client from the header.
    @Test func anHTTPRequestBehindAProxyProtocolListener() async throws {
        let origin = try HTTPTestOrigin()
        defer { origin.stop() }
        let harness = try ProxyProtocolServerTests.server()
        defer { Task { await harness.stop() } }
        var client = try await Client.connect(to: harness.address)
        defer { client.close() }
        try await client.send(ProxyProtocolServerTests.v1("192.0.2.9", 5555) + Array(Self.get(origin, "/fixed").utf8))
        #expect(try await client.response().text == Self.fixedResponse(origin))
        client.close()
        let line = try #require(await Self.accessLines(harness, client: "192.0.2.9:5555").first)
        #expect(line.contains(" protocol=http user=- command=GET destination=\(origin.address) "), "\(line)")
    }
}
