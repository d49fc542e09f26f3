import AsyncSockets
import Foundation
import TestSupport

extension SessionScript {
    /// `Proxy-Authorization: Basic …` for `user:password`, with its line end.
    static func proxyAuthorization(_ user: String, _ password: String) -> String {
        "Proxy-Authorization: Basic \(Data("\(user):\(password)".utf8).base64EncodedString())\r\n"
    }

    /// An HTTP CONNECT to `echo` (with `credentials` as Proxy-Authorization), the 200, one byte there and
    /// back through the tunnel, then a half-close answered by the echo's.
    static func httpConnectEcho(through proxy: SocketAddress, to echo: SocketAddress, credentials: (user: String, password: String)?) async throws {
        try await withDeadline(sessionTimeLimit) {
            let connection = try await TCPConnection.connect(to: proxy)
            defer { connection.close() }
            var reader = HTTPResponseReader(connection)
            let authorization = credentials.map { proxyAuthorization($0.user, $0.password) } ?? ""
            try await connection.write(Array("CONNECT \(echo) HTTP/1.1\r\nHost: \(echo)\r\n\(authorization)\r\n".utf8))
            let head = try await reader.head()
            guard head.status == 200 else { throw Failure("HTTP CONNECT answered \(head.status)") }
            guard reader.buffered.isEmpty else { throw Failure("HTTP CONNECT: bytes after the 200 before any were sent") }
            try await connection.write([0x2A])
            guard try await reader.body(count: 1) == [0x2A] else { throw Failure("HTTP CONNECT echoed the wrong byte") }
            connection.shutdownWrite()
            guard try await reader.untilEOF().isEmpty else { throw Failure("HTTP CONNECT: bytes after the echo") }
        }
    }

    /// Two absolute-form GETs to `origin` on one proxy connection (keep-alive), each answered 200 with
    /// `body`; the second says `Connection: close`, and the proxy must close after its response.
    static func httpGetTwice(through proxy: SocketAddress, from origin: SocketAddress, expecting body: String, credentials: (user: String, password: String)?) async throws {
        try await withDeadline(sessionTimeLimit) {
            let connection = try await TCPConnection.connect(to: proxy)
            defer { connection.close() }
            var reader = HTTPResponseReader(connection)
            let authorization = credentials.map { proxyAuthorization($0.user, $0.password) } ?? ""
            for (index, closing) in [false, true].enumerated() {
                let request = "GET http://\(origin)/resource/\(index) HTTP/1.1\r\nHost: \(origin)\r\n\(authorization)"
                    + (closing ? "Connection: close\r\n" : "") + "\r\n"
                try await connection.write(Array(request.utf8))
                let head = try await reader.head()
                guard head.status == 200 else { throw Failure("HTTP GET \(index + 1) answered \(head.status)") }
                guard let length = head.contentLength else { throw Failure("HTTP GET \(index + 1): no Content-Length") }
                guard try await reader.body(count: length) == Array(body.utf8) else { throw Failure("HTTP GET \(index + 1): the wrong body") }
            }
            guard try await reader.untilEOF().isEmpty else { throw Failure("HTTP GET: bytes after the last response") }
        }
    }
}
