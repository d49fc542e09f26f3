import Testing
@testable import SOCKSProtocol

// Requests as HTTP proxy clients send them. curl 7.88.1, Python requests 2.34.2 and git 2.39.5 were captured
// on loopback from the real clients (`--proxy http://user:pw@…`, `proxies=`, `-c http.proxy=`); the Chromium
// ones are written out as Chromium sends them through `--proxy-server=http://…` (not installed here).
enum ClientRequests {
    static let curlGet = "GET http://example.com/index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n"
    static let curlConnect = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\nUser-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n"
    static let curlPostHead = "POST http://[::1]:8080/form HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\nContent-Length: 3\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
    static let pythonRequests = "GET http://example.com/a/b HTTP/1.1\r\nHost: example.com\r\nUser-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n\r\n"
    static let git = "GET http://example.com/repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: example.com\r\nUser-Agent: git/2.39.5\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nProxy-Connection: Keep-Alive\r\nPragma: no-cache\r\nGit-Protocol: version=2\r\n\r\n"
    static let chromiumUserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
    static let chromiumGet = "GET http://127.0.0.1:8080/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nProxy-Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nUser-Agent: \(chromiumUserAgent)\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n"
    static let chromiumConnect = "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Connection: keep-alive\r\nUser-Agent: \(chromiumUserAgent)\r\n\r\n"
}

@Suite struct HTTPProxyRequestTests {
    static func request(_ text: String) throws -> (HTTPProxyRequest, length: Int) {
        switch HTTPProxyRequest.parse(Array(text.utf8)[...]) {
        case .complete(let request, let length): return (request, length)
        case let other:
            Issue.record("\(text.debugDescription) reads \(other)")
            throw HTTPProxyRequestError.notAProxyRequest
        }
    }

    static func error(_ text: String) -> HTTPProxyRequestError? {
        guard case .failed(let error) = HTTPProxyRequest.parse(Array(text.utf8)[...]) else { return nil }
        return error
    }

    static func forwarded(_ text: String, keepAlive: Bool) throws -> String {
        let forwarded = try #require(try request(text).0.forwardedHead(keepAlive: keepAlive))
        return String(decoding: forwarded, as: UTF8.self)
    }

    private static let login = SOCKSCredentials(username: "user", password: "pw")

    @Test func curlGetIsForwardedWithoutItsLogin() throws {
        let (request, length) = try Self.request(ClientRequests.curlGet)
        #expect(length == ClientRequests.curlGet.utf8.count)
        #expect(request.kind == .forward(originTarget: "/index.html?q=1", authority: "example.com"))
        #expect(request.destination == SOCKSEndpoint(address: .domain("example.com"), port: 80))
        #expect(request.authorization == .basic(Self.login))
        #expect(request.bodyFraming == HTTPBodyFraming.none)
        #expect(request.clientWantsKeepAlive)
        #expect(try Self.forwarded(ClientRequests.curlGet, keepAlive: true)
            == "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func curlConnectIsATunnel() throws {
        let (request, _) = try Self.request(ClientRequests.curlConnect)
        #expect(request.kind == .tunnel)
        #expect(request.destination == SOCKSEndpoint(address: .domain("example.com"), port: 443))
        #expect(request.authorization.credentials == Self.login)
        #expect(request.bodyFraming == HTTPBodyFraming.none)
        #expect(request.forwardedHead(keepAlive: true) == nil)
    }

    @Test func curlPostToIPv6KeepsItsBodyAfterTheHead() throws {
        let text = ClientRequests.curlPostHead + "a=1"
        let (request, length) = try Self.request(text)
        #expect(Array(text.utf8)[length...].elementsEqual("a=1".utf8))
        #expect(request.destination == SOCKSEndpoint(address: .ipv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), port: 8080))
        #expect(request.authorization == .absent)
        #expect(request.bodyFraming == .contentLength(3))
        #expect(try Self.forwarded(text, keepAlive: false)
            == "POST /form HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Length: 3\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n")
    }

    @Test func pythonRequestsAndGit() throws {
        #expect(try Self.request(ClientRequests.pythonRequests).0.authorization == .basic(Self.login))
        #expect(try Self.forwarded(ClientRequests.pythonRequests, keepAlive: false)
            == "GET /a/b HTTP/1.1\r\nHost: example.com\r\nUser-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        #expect(try Self.forwarded(ClientRequests.git, keepAlive: true)
            == "GET /repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: example.com\r\nUser-Agent: git/2.39.5\r\nAccept: */*\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nPragma: no-cache\r\nGit-Protocol: version=2\r\nConnection: keep-alive\r\n\r\n")
    }

    @Test func chromium() throws {
        let (get, _) = try Self.request(ClientRequests.chromiumGet)
        #expect(get.destination == SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 8080))
        #expect(try Self.forwarded(ClientRequests.chromiumGet, keepAlive: true)
            == "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade-Insecure-Requests: 1\r\nUser-Agent: \(ClientRequests.chromiumUserAgent)\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\nConnection: keep-alive\r\n\r\n")
        let (connect, _) = try Self.request(ClientRequests.chromiumConnect)
        #expect(connect.kind == .tunnel)
        #expect(connect.destination == SOCKSEndpoint(address: .ipv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), port: 8443))
    }

    @Test func everyPrefixIsIncomplete() {
        for text in [ClientRequests.curlGet, ClientRequests.curlConnect, ClientRequests.chromiumGet] {
            let bytes = Array(text.utf8)
            for count in 0..<bytes.count {
                #expect(HTTPProxyRequest.parse(bytes[..<count]) == .incomplete, "\(count) bytes of \(text.debugDescription)")
            }
        }
    }

    @Test func hostFromTheURIWins() throws {
        // RFC 9112 §3.2.2: a Host that differs from the URI's authority is replaced, in place.
        #expect(try Self.forwarded("GET http://a.example:8080/x HTTP/1.1\r\nAccept: */*\r\nHost: b.example\r\nX: y\r\n\r\n", keepAlive: true)
            == "GET /x HTTP/1.1\r\nAccept: */*\r\nHost: a.example:8080\r\nX: y\r\nConnection: keep-alive\r\n\r\n")
        // HTTP/1.0 need not send Host: it is added first; the version stays the client's.
        #expect(try Self.forwarded("GET http://a.example HTTP/1.0\r\nAccept: */*\r\n\r\n", keepAlive: false)
            == "GET / HTTP/1.0\r\nHost: a.example\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        #expect(try Self.forwarded("GET HTTP://A.example?q=1 HTTP/1.0\r\n\r\n", keepAlive: false)
            == "GET /?q=1 HTTP/1.0\r\nHost: A.example\r\nConnection: close\r\n\r\n")
    }

    @Test func hopByHopFieldsAreRemoved() throws {
        let text = "PUT http://example.com/u HTTP/1.1\r\nHost: example.com\r\nConnection: X-Hop, close,, Content-Length, host\r\nconnection: transfer-encoding\r\n"
            + "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nProxy-Authenticate: Basic\r\n"
            + "TE: trailers\r\nTrailer: Expires\r\nUpgrade: websocket\r\nX-End-To-End: \u{E9}t\u{E9}\r\nTransfer-Encoding: chunked\r\n\r\n"
        let (request, _) = try Self.request(text)
        #expect(!request.clientWantsKeepAlive)
        #expect(request.bodyFraming == .chunked)
        #expect(try Self.forwarded(text, keepAlive: false)
            == "PUT /u HTTP/1.1\r\nHost: example.com\r\nX-End-To-End: \u{E9}t\u{E9}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    }

    @Test func fieldValueBytesPassUnchanged() throws {
        // Latin-1 (obs-text) is not UTF-8: it must reach the origin byte for byte.
        let head = Array("GET http://e.example/ HTTP/1.1\r\nHost: e.example\r\nX-Name: caf".utf8) + [0xE9] + Array("\r\n\r\n".utf8)
        guard case .complete(let request, _) = HTTPProxyRequest.parse(head[...]) else {
            Issue.record("not complete")
            return
        }
        let expected = Array("GET / HTTP/1.1\r\nHost: e.example\r\nX-Name: caf".utf8) + [0xE9] + Array("\r\nConnection: close\r\n\r\n".utf8)
        #expect(request.forwardedHead(keepAlive: false) == expected)
    }

    @Test(arguments: [
        ("GET http://e.example/ HTTP/1.1\r\nHost: e.example\r\n\r\n", true),
        ("GET http://e.example/ HTTP/1.1\r\nHost: e.example\r\nConnection: Close\r\n\r\n", false),
        ("GET http://e.example/ HTTP/1.1\r\nHost: e.example\r\nProxy-Connection: close\r\n\r\n", false),
        ("GET http://e.example/ HTTP/1.0\r\n\r\n", false),
        ("GET http://e.example/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ("GET http://e.example/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n", true),
        ("GET http://e.example/ HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
    ])
    func keepAlive(text: String, wanted: Bool) throws {
        #expect(try Self.request(text).0.clientWantsKeepAlive == wanted)
    }

    @Test(arguments: [
        ("CONNECT 192.0.2.1:1 HTTP/1.1\r\nHost: x\r\n\r\n", SOCKSEndpoint(address: .ipv4([192, 0, 2, 1]), port: 1)),
        ("CONNECT [2001:db8::1]:65535 HTTP/1.1\r\nHost: x\r\n\r\n",
         SOCKSEndpoint(address: .ipv6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), port: 65535)),
        ("CONNECT Example.COM.:443 HTTP/1.0\r\n\r\n", SOCKSEndpoint(address: .domain("Example.COM."), port: 443)),
        ("CONNECT _srv.a-b.example:0443 HTTP/1.0\r\n\r\n", SOCKSEndpoint(address: .domain("_srv.a-b.example"), port: 443)),
        ("GET http://[::ffff:192.0.2.1]/ HTTP/1.0\r\n\r\n",
         SOCKSEndpoint(address: .ipv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]), port: 80)),
        ("GET http://e.example:/ HTTP/1.0\r\n\r\n", SOCKSEndpoint(address: .domain("e.example"), port: 80)),
        ("GET http://1.2.3.4:81 HTTP/1.0\r\n\r\n", SOCKSEndpoint(address: .ipv4([1, 2, 3, 4]), port: 81)),
    ])
    func destinations(text: String, destination: SOCKSEndpoint) throws {
        #expect(try Self.request(text).0.destination == destination)
    }

    @Test(arguments: [
        // Not proxy requests.
        ("GET /index.html HTTP/1.1\r\nHost: e.example\r\n\r\n", HTTPProxyRequestError.notAProxyRequest, 400),
        ("OPTIONS * HTTP/1.1\r\nHost: e.example\r\n\r\n", .notAProxyRequest, 400),
        // Schemes.
        ("GET https://e.example/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .unsupportedScheme("https"), 501),
        ("GET FTP://e.example/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .unsupportedScheme("ftp"), 501),
        // URIs.
        ("GET http://user:pw@e.example/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("userinfo in the URI"), 400),
        ("GET http://e.example/#top HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a fragment in the request target"), 400),
        ("GET http://e.example:0/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("the port is not a number from 1 to 65535"), 400),
        ("GET http://e.example:65536/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("the port is not a number from 1 to 65535"), 400),
        ("GET http://e.example:+80/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("the port is not a number from 1 to 65535"), 400),
        ("GET http://e%2eexample/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a byte other than a letter, digit, - or _ in the host name"), 400),
        ("GET http://a..example/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("an empty label in the host name"), 400),
        ("GET http://127.1/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a host name ending in a number (not a dotted quad)"), 400),
        ("GET http://a.0x7f/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a host name ending in a number (not a dotted quad)"), 400),
        ("GET http://256.1.1.1/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a host name ending in a number (not a dotted quad)"), 400),
        ("GET http://[fe80::1%25eth0]/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("not an IPv6 address in brackets"), 400),
        ("GET http://[::1/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("an IPv6 address without its closing bracket"), 400),
        ("GET http://[::1]x/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("bytes after the IPv6 address that are not :PORT"), 400),
        ("GET http://\(String(repeating: "a", count: 64)).example/ HTTP/1.1\r\nHost: e\r\n\r\n", .invalidTarget("a host name label longer than 63 bytes"), 400),
        // CONNECT targets.
        ("CONNECT e.example HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("no port"), 400),
        ("CONNECT e.example: HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("no port"), 400),
        ("CONNECT [::1] HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("no port"), 400),
        ("CONNECT :443 HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("an empty host"), 400),
        ("CONNECT http://e.example:443/ HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a CONNECT target that is not host:port"), 400),
        ("CONNECT u@e.example:443 HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("a CONNECT target that is not host:port"), 400),
        ("CONNECT e.example:443:1 HTTP/1.1\r\nHost: e.example\r\n\r\n", .invalidTarget("the port is not a number from 1 to 65535"), 400),
        // Heads.
        ("GET http://e.example/ HTTP/2.0\r\n\r\n", .head(.unsupportedVersion), 505),
        ("GET http://e.example/ HTTP/1.1\r\n\r\n", .head(.malformed("no Host field in an HTTP/1.1 request")), 400),
        ("GET http://e.example/\u{1} HTTP/1.1\r\n\r\n", .head(.malformed("a forbidden byte in the request line")), 400),
        ("GET http://e.example/ HTTP/1.1\r\nHost: e\r\nX: \u{7F}", .head(.malformed("a control byte in a header field")), 400),
        // Framing.
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         .framing(.contentLengthWithTransferEncoding), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", .framing(.conflictingContentLengths), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: 3, 4\r\n\r\n", .framing(.conflictingContentLengths), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: -1\r\n\r\n", .framing(.invalidContentLength), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: 1 2\r\n\r\n", .framing(.invalidContentLength), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: 1234567890123456789\r\n\r\n", .framing(.invalidContentLength), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .framing(.chunkedNotLast), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .framing(.chunkedNotLast), 400),
        ("POST http://e.example/ HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: xchunked\r\n\r\n", .framing(.chunkedNotLast), 400),
        ("POST http://e.example/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .framing(.transferEncodingInHTTP10), 400),
    ])
    func refused(text: String, error: HTTPProxyRequestError, status: Int) {
        #expect(Self.error(text) == error, "\(text.debugDescription)")
        #expect(error.status.code == status)
    }

    @Test func tooLargeHeadsAreRefusedWith431() {
        let long = "GET http://e.example/ HTTP/1.1\r\nHost: e\r\nCookie: \(String(repeating: "c", count: 16 * 1024))\r\n\r\n"
        #expect(Self.error(long) == .head(.headTooLarge))
        let many = "GET http://e.example/ HTTP/1.1\r\nHost: e\r\n" + (1...100).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(Self.error(many) == .head(.tooManyFields))
        #expect(HTTPProxyRequestError.head(.tooManyFields).status == .requestHeaderFieldsTooLarge)
        // The metrics endpoint's smaller limit stays its own.
        let mid = "GET http://e.example/ HTTP/1.1\r\nHost: e\r\nCookie: \(String(repeating: "c", count: 10 * 1024))\r\n\r\n"
        #expect(HTTPRequestHead.parse(Array(mid.utf8)[...]) == .failed(.headTooLarge))
        #expect(Self.error(mid) == nil)
    }

    @Test func acceptedFramings() throws {
        let chunked = "POST http://e.example/ HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
        #expect(try Self.request(chunked).0.bodyFraming == .chunked)
        let repeated = "POST http://e.example/ HTTP/1.1\r\nHost: e\r\nContent-Length: 42, 42\r\ncontent-length: 42\r\n\r\n"
        #expect(try Self.request(repeated).0.bodyFraming == .contentLength(42))
        let connectWithLength = "CONNECT e.example:443 HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\n\r\n"
        #expect(try Self.request(connectWithLength).0.bodyFraming == HTTPBodyFraming.none)
    }
}
