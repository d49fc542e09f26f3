import Testing
@testable import SOCKSProtocol

/// Response heads from origins, their rewrite for the client, and response body framing.
@Suite struct HTTPResponseHeadTests {
    static func head(_ text: String) throws -> HTTPResponseHead {
        guard case .complete(let head, let length) = HTTPResponseHead.parse(Array(text.utf8)[...]) else {
            Issue.record("\(text.debugDescription) reads \(HTTPResponseHead.parse(Array(text.utf8)[...]))")
            throw HTTPHeadParseError.malformed("test")
        }
        #expect(length <= text.utf8.count)
        return head
    }

    static func forwarded(_ text: String, keepAlive: Bool) throws -> String {
        String(decoding: try head(text).forwardedHead(keepAlive: keepAlive), as: UTF8.self)
    }

    // As Python's http.server sends a file, and as nginx sends a chunked page.
    static let pythonServer = "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Sun, 22 Nov 2026 03:00:00 GMT\r\nContent-type: text/html\r\nContent-Length: 8\r\nLast-Modified: Sun, 22 Nov 2026 02:00:00 GMT\r\n\r\n"
    static let nginxChunked = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:00:00 GMT\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"

    @Test func pythonServerResponse() throws {
        let head = try Self.head(Self.pythonServer)
        #expect(head.status == 200 && head.minorVersion == 0 && head.reason == Array("OK".utf8))
        #expect(!head.originKeepsAlive)
        #expect(HTTPBodyFraming.response(head, requestMethod: "GET") == .success(.contentLength(8)))
        #expect(try Self.forwarded(Self.pythonServer, keepAlive: true)
            == "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Sun, 22 Nov 2026 03:00:00 GMT\r\nContent-type: text/html\r\nContent-Length: 8\r\nLast-Modified: Sun, 22 Nov 2026 02:00:00 GMT\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func nginxChunkedResponse() throws {
        let head = try Self.head(Self.nginxChunked)
        #expect(head.originKeepsAlive)
        #expect(HTTPBodyFraming.response(head, requestMethod: "GET") == .success(.chunked))
        #expect(try Self.forwarded(Self.nginxChunked, keepAlive: false)
            == "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:00:00 GMT\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    }

    @Test func hopByHopFieldsAndAStrayContentLengthAreRemoved() throws {
        let text = "HTTP/1.1 404 Not Found\r\nConnection: x-trace\r\nX-Trace: 1\r\nProxy-Authenticate: Basic realm=\"o\"\r\nUpgrade: h2c\r\n"
            + "Content-Length: 10\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
        #expect(try Self.forwarded(text, keepAlive: true)
            == "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func statusLinesAsServersSendThem() throws {
        #expect(try Self.head("HTTP/1.1 200\r\n\r\n").reason == [])
        #expect(try Self.head("HTTP/1.1 200 \r\n\r\n").reason == [])
        #expect(try Self.forwarded("HTTP/1.1 200\r\n\r\n", keepAlive: false) == "HTTP/1.1 200 \r\nConnection: close\r\n\r\n")
        let latin1 = Array("HTTP/1.1 200 Tr".utf8) + [0xE8, 0x73] + Array(" bien\r\nX: \t\r\n\r\n".utf8)
        guard case .complete(let head, _) = HTTPResponseHead.parse(latin1[...]) else {
            Issue.record("a Latin-1 reason is refused")
            return
        }
        #expect(head.forwardedHead(keepAlive: false) == Array("HTTP/1.1 200 Tr".utf8) + [0xE8, 0x73] + Array(" bien\r\nX: \r\nConnection: close\r\n\r\n".utf8))
    }

    @Test(arguments: [
        ("HTTP/1.1 20 OK\r\n\r\n", HTTPHeadParseError.malformed("the status code is not three digits")),
        ("HTTP/1.1 099 OK\r\n\r\n", .malformed("the status code is not 100–599")),
        ("HTTP/1.1 600 OK\r\n\r\n", .malformed("the status code is not 100–599")),
        ("HTTP/1.1\r\n\r\n", .malformed("the status line is not VERSION CODE REASON")),
        ("HTTP/2 200 OK\r\n\r\n", .malformed("the version is not HTTP/x.y")),
        ("HTTP/2.0 200 OK\r\n\r\n", .unsupportedVersion),
        ("ICY 200 OK\r\n\r\n", .malformed("the version is not HTTP/x.y")),
        ("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", .malformed("obsolete line folding")),
        ("HTTP/1.1 200 OK\r\nX a\r\n\r\n", .malformed("a header field without a colon")),
        ("HTTP/1.1 200 O\u{0}K\r\n\r\n", .malformed("a forbidden byte in the status line")),
        ("HTTP/1.1 200 O\u{1}", .malformed("a forbidden byte in the status line")),
    ])
    func invalidResponsesAreRefused(text: String, error: HTTPHeadParseError) {
        #expect(HTTPResponseHead.parse(Array(text.utf8)[...]) == .failed(error), "\(text.debugDescription)")
    }

    @Test func limits() {
        let cookies = (1...201).map { "Set-Cookie: c\($0)=v\r\n" }.joined()
        #expect(HTTPResponseHead.parse(Array("HTTP/1.1 200 OK\r\n\(cookies)\r\n".utf8)[...]) == .failed(.tooManyFields))
        let long = "HTTP/1.1 200 OK\r\nX: \(String(repeating: "v", count: 64 * 1024))"
        #expect(HTTPResponseHead.parse(Array(long.utf8)[...]) == .failed(.headTooLarge))
        let text = Self.nginxChunked
        for count in 0..<text.utf8.count {
            #expect(HTTPResponseHead.parse(Array(text.utf8)[..<count]) == .incomplete, "\(count) bytes")
        }
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", HTTPBodyFraming.none),
        ("HTTP/1.1 100 Continue\r\n\r\n", "POST", .none),
        ("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", "GET", .none),
        ("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "GET", .none),
        ("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", .none),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", .contentLength(0)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", "GET", .contentLength(7)),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n", "GET", .chunked),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", .untilClose),
        ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", .untilClose),
        ("HTTP/1.1 200 OK\r\n\r\n", "GET", .untilClose),
    ])
    func responseFraming(text: String, method: String, framing: HTTPBodyFraming) throws {
        #expect(HTTPBodyFraming.response(try Self.head(text), requestMethod: method) == .success(framing))
    }

    @Test func unsafeResponseFraming() throws {
        #expect(HTTPBodyFraming.response(try Self.head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), requestMethod: "GET")
            == .failure(.conflictingContentLengths))
        #expect(HTTPBodyFraming.response(try Self.head("HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n"), requestMethod: "GET")
            == .failure(.invalidContentLength))
        #expect(HTTPBodyFraming.response(try Self.head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), requestMethod: "GET")
            == .failure(.unexpectedSwitchingProtocols))
        #expect(try Self.head("HTTP/1.1 100 Continue\r\n\r\n").isInterim)
        #expect(try !Self.head("HTTP/1.1 101 Switching Protocols\r\n\r\n").isInterim)
    }
}
