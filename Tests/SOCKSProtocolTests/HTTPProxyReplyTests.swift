import Testing
@testable import SOCKSProtocol

/// The responses the proxy writes itself, byte for byte.
@Suite struct HTTPProxyReplyTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func connectionEstablished() {
        #expect(Self.text(HTTPProxyReply.connectionEstablished) == "HTTP/1.1 200 Connection established\r\n\r\n")
    }

    @Test func proxyAuthenticationRequired() {
        #expect(Self.text(HTTPProxyReply.response(.proxyAuthenticationRequired))
            == "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n"
            + "Proxy-Authenticate: Basic realm=\"socksd\"\r\nConnection: close\r\n\r\n407 Proxy Authentication Required\n")
    }

    @Test func keepAliveMessageExtraFieldsAndHead() {
        let allow = [HTTPField(name: "Allow", value: "GET, HEAD")]
        #expect(Self.text(HTTPProxyReply.response(.methodNotAllowed, keepAlive: true, message: "no\n", extraFields: allow))
            == "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nAllow: GET, HEAD\r\nConnection: keep-alive\r\n\r\nno\n")
        #expect(Self.text(HTTPProxyReply.response(.badGateway, includingBody: false))
            == "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\n")
    }

    @Test(arguments: [
        (HTTPStatus.badRequest, 400), (.forbidden, 403), (.requestTimeout, 408), (.uriTooLong, 414), (.requestHeaderFieldsTooLarge, 431),
        (.internalServerError, 500), (.notImplemented, 501), (.badGateway, 502), (.serviceUnavailable, 503), (.gatewayTimeout, 504),
        (.httpVersionNotSupported, 505),
    ])
    func everyStatusIsAWholeResponse(status: HTTPStatus, code: Int) {
        let bytes = HTTPProxyReply.response(status)
        guard case .complete(let head, let length) = HTTPResponseHead.parse(bytes[...]) else {
            Issue.record("\(status) does not parse")
            return
        }
        #expect(head.status == code)
        #expect(head.value(of: "connection") == "close")
        #expect(head.value(of: "proxy-authenticate") == nil)
        #expect(HTTPBodyFraming.response(head, requestMethod: "GET") == .success(.contentLength(UInt64(bytes.count - length))))
        #expect(Self.text(Array(bytes[length...])) == "\(code) \(status.reason)\n")
    }
}
