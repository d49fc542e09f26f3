import Testing
@testable import SOCKSProtocol

/// The request-head parser of the metrics endpoint and the HTTP proxy (also fuzzed: Fuzz/HTTPRequestHead.swift).
@Suite struct HTTPRequestHeadTests {
    static func parse(_ text: String, limits: HTTPRequestHead.Limits = .init()) -> HTTPRequestHead.ParseResult {
        HTTPRequestHead.parse(Array(text.utf8)[...], limits: limits)
    }

    static func head(_ text: String) throws -> HTTPRequestHead {
        guard case .complete(let head, _) = parse(text) else {
            Issue.record("\(text.debugDescription) reads \(parse(text))")
            throw HTTPRequestHead.ParseError.malformed("test")
        }
        return head
    }

    @Test func aCurlRequestIsComplete() throws {
        let text = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
        let expected = HTTPRequestHead(method: "GET", target: "/metrics?x=1", minorVersion: 1, fields: [
            .init(name: "Host", value: "127.0.0.1:9090"), .init(name: "User-Agent", value: "curl/7.88.1"), .init(name: "Accept", value: "*/*"),
        ])
        #expect(Self.parse(text) == .complete(expected, length: text.utf8.count))
        #expect(expected.path == "/metrics")
        #expect(expected.value(of: "user-agent") == "curl/7.88.1")
    }

    @Test func bytesAfterTheHeadAreNotLookedAt() {
        let first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
        guard case .complete(let head, let length) = Self.parse(first + "GET /b HTTP/1.1\r\n\u{0}garbage") else {
            Issue.record("not complete")
            return
        }
        #expect(head.target == "/a")
        #expect(length == first.utf8.count)
    }

    @Test func prefixesAreIncomplete() {
        let text = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
        for count in 0..<text.utf8.count {
            #expect(HTTPRequestHead.parse(Array(text.utf8)[..<count]) == .incomplete, "\(count) bytes")
        }
    }

    @Test func lenientWhereRFC9112AllowsIt() throws {
        let head = try Self.head("\r\n\nGET /healthz HTTP/1.0\nX-Pad:  \t v a \t\nX-Empty:\n\n")
        #expect(head.minorVersion == 0)
        #expect(head.fields == [.init(name: "X-Pad", value: "v a"), .init(name: "X-Empty", value: "")])
        #expect(try Self.head("GET http://example.com:8080/metrics?q HTTP/1.1\r\nHost: example.com\r\n\r\n").path == "/metrics")
        #expect(try Self.head("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").path == "/")
        #expect(try Self.head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path == "*")
    }

    @Test(arguments: [
        "GET  /metrics HTTP/1.1\r\nHost: a\r\n\r\n",  // two spaces
        "GET /metrics\r\n\r\n",  // HTTP/0.9
        "GET /metrics http/1.1\r\nHost: a\r\n\r\n",
        "GET /metrics HTTP/1.10\r\nHost: a\r\n\r\n",
        "GET metrics HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
    ])
    func malformedHeadsAreRefused(text: String) {
        guard case .failed(.malformed) = Self.parse(text) else {
            Issue.record("\(text.debugDescription) reads \(Self.parse(text))")
            return
        }
    }

    @Test func garbageFailsBeforeAnyNewline() {
        guard case .failed(.malformed) = HTTPRequestHead.parse([0x16, 0x03, 0x01, 0x00, 0xA5]) else {
            Issue.record("a TLS hello is not refused at once")
            return
        }
        guard case .failed(.malformed) = Self.parse("GET /metrics HTTP/1.1\r\nHost: a\r\nX: \u{1}") else {
            Issue.record("a control byte in a partial field is not refused at once")
            return
        }
    }

    @Test func limitsAreEnforced() {
        let small = HTTPRequestHead.Limits(maximumLength: 64, maximumFields: 2)
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nX-1: 1\r\n\r\n", limits: small) != .failed(.headTooLarge))
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nX-1: 1\r\nX-2: 2\r\n\r\n", limits: small) == .failed(.tooManyFields))
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nX-Long: \(String(repeating: "v", count: 40))", limits: small) == .failed(.headTooLarge))
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nX-Long: \(String(repeating: "v", count: 10))", limits: small) == .incomplete)
        #expect(Self.parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .failed(.unsupportedVersion))
    }
}
