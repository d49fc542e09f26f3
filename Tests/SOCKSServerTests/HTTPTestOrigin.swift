import AsyncSockets
import SOCKSProtocol
import Synchronization
import TestSupport

/// A scripted HTTP/1.1 origin on 127.0.0.1 (port 0) for the HTTP proxy's in-process tests. It reads each
/// request head with `HTTPRequestHead`, its body by `HTTPBodyFraming` (chunked bodies through
/// `HTTPChunkedBodyScanner`), records the raw bytes it got, and answers by path with fixed bytes, so a test
/// can say exactly what the proxy must send on:
///
/// - `/fixed`: `200` with a `Content-Length` body (`hello from NAME\n`) and hop-by-hop fields for the proxy
///   to remove (`Keep-Alive`, `Connection: keep-alive, X-Hop`, `X-Hop`, `Proxy-Authenticate`, `Upgrade`);
/// - `/chunked`: a chunked body with an extension and a trailer, in two writes;
/// - `/until-close`: a body without a length, ended by closing the connection;
/// - `/echo`: the request body as received (chunk framing included) with a `Content-Length`;
/// - `/no-content` (`204`), `/not-modified` (`304` with a `Content-Length`), and `HEAD` of any path;
/// - `/hints`: a `103 Early Hints` interim, then `200`;
/// - `/slow`: `200` after `slowDelay`; `/close`: `200` with `Connection: close`, then the close;
/// - `/no-response`: closes without a byte; `/bad-head`: a status line that is not one; `/cut`: closes 10
///   bytes into a 100-byte body; `/drop`: answers as if keeping the connection, then closes it (as an
///   origin's idle timeout does);
/// - anything else: `404`.
///
/// A request with `Expect: 100-continue` gets a `100 Continue` before its body is read. A request asking for
/// `Connection: close` (or an HTTP/1.0 one without `keep-alive`) gets `Connection: close`, then the close.
final class HTTPTestOrigin: Sendable {
    /// One request as the origin received it.
    struct Request: Sendable {
        /// Which of the origin's connections carried it: 1 for the first accepted, and so on.
        var connection: Int
        var head: HTTPRequestHead
        /// The head's bytes as received, up to and including its empty line.
        var rawHead: [UInt8]
        /// The body's bytes as received (a chunked body with its framing).
        var rawBody: [UInt8]

        /// The head as text, for exact comparisons.
        var headText: String { String(decoding: rawHead, as: UTF8.self) }
    }

    /// How long `/slow` waits before it answers.
    static let slowDelay: Duration = .milliseconds(1500)

    let name: String
    let address: SocketAddress
    private let listener: TCPListener
    private let task: Task<Void, Never>
    private let log: Log

    /// What the origin has seen, shared with its connections' tasks.
    private final class Log: Sendable {
        let state = Mutex<(requests: [Request], connections: Int)>(([], 0))
    }

    /// The body of `/fixed`.
    var fixedBody: String { "hello from \(name)\n" }

    /// The requests received so far, in order.
    var requests: [Request] { log.state.withLock { $0.requests } }
    /// How many connections the origin has accepted.
    var connections: Int { log.state.withLock { $0.connections } }

    init(name: String = "origin") throws {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let log = Log()
        self.log = log
        self.name = name
        self.listener = listener
        self.address = listener.localAddress
        self.task = Task {
            await withDiscardingTaskGroup { group in
                do {
                    for try await connection in listener.connections() {
                        let number = log.state.withLock { state in
                            state.connections += 1
                            return state.connections
                        }
                        group.addTask {
                            var session = Session(connection: connection, number: number, name: name) { request in
                                log.state.withLock { $0.requests.append(request) }
                            }
                            do { try await session.run() } catch {}
                            connection.close()
                        }
                    }
                } catch {}
            }
        }
    }

    /// `http://127.0.0.1:PORT`, the start of an absolute-form target.
    var base: String { "http://\(address)" }

    func stop() {
        listener.close()
        task.cancel()
    }

    /// One connection to the origin: requests in turn, until one asks for the close or an answer ends it.
    private struct Session {
        let connection: TCPConnection
        let number: Int
        let name: String
        let record: @Sendable (Request) -> Void
        var buffer: [UInt8] = []

        /// What the connection does after an answer.
        enum After {
            case keepOpen
            case close
        }

        init(connection: TCPConnection, number: Int, name: String, record: @escaping @Sendable (Request) -> Void) {
            self.connection = connection
            self.number = number
            self.name = name
            self.record = record
        }

        mutating func run() async throws {
            while let (head, rawHead) = try await readHead() {
                let minor = head.minorVersion
                if minor >= 1, head.value(of: "expect")?.lowercased() == "100-continue" {
                    try await send("HTTP/1.1 100 Continue\r\n\r\n")
                }
                let framing = try HTTPBodyFraming.request(head).get()
                let body = try await readBody(framing)
                record(Request(connection: number, head: head, rawHead: rawHead, rawBody: body))
                let options = head.fields.filter { $0.hasName("connection") }.map { $0.value.lowercased() }
                let closing = options.contains { $0.contains("close") } || (minor == 0 && !options.contains { $0.contains("keep-alive") })
                switch try await answer(head, body: body, closing: closing) {
                case .keepOpen where !closing:
                    continue
                case .keepOpen, .close:
                    connection.shutdownWrite()
                    return
                }
            }
        }

        private func answer(_ head: HTTPRequestHead, body: [UInt8], closing: Bool) async throws -> After {
            let connectionField = closing ? "Connection: close\r\n" : ""
            if head.method == "HEAD" {
                try await send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\(connectionField)\r\n")
                return .keepOpen
            }
            switch head.path ?? "" {
            case "/fixed":
                let hopByHop = closing
                    ? "Connection: close\r\n"
                    : "Keep-Alive: timeout=5\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n"
                try await send(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(name.utf8.count + 12)\r\n\(hopByHop)"
                        + "Proxy-Authenticate: Basic realm=\"origin\"\r\nUpgrade: h2c\r\nServer: test-origin\r\n\r\nhello from \(name)\n")
            case "/chunked":
                try await send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\(connectionField)\r\n5;ext=1\r\nhello\r\n")
                // The rest in a write of its own: the proxy sees the body in two pieces.
                try await Task.sleep(for: .milliseconds(50))
                try await send("7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
            case "/until-close":
                try await send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close\n")
                return .close
            case "/echo":
                try await send("HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\(connectionField)\r\n", body)
            case "/no-content":
                try await send("HTTP/1.1 204 No Content\r\nServer: test-origin\r\n\(connectionField)\r\n")
            case "/not-modified":
                try await send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\n\(connectionField)\r\n")
            case "/hints":
                try await send("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
                try await send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\(connectionField)\r\nhinted")
            case "/slow":
                try await Task.sleep(for: HTTPTestOrigin.slowDelay)
                try await send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\(connectionField)\r\nslow\n")
            case "/no-response":
                return .close
            case "/bad-head":
                try await send("HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n")
                return .close
            case "/cut":
                try await send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                return .close
            case "/close":
                try await send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbye\n")
                return .close
            case "/drop":
                try await send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndrop")
                return .close
            default:
                try await send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\(connectionField)\r\n")
            }
            return .keepOpen
        }

        private func send(_ text: String, _ bytes: [UInt8] = []) async throws {
            try await connection.write(Array(text.utf8) + bytes)
        }

        /// The next request head and its bytes, or nil when the connection ends before one.
        private mutating func readHead() async throws -> (HTTPRequestHead, [UInt8])? {
            while true {
                switch HTTPRequestHead.parse(buffer[...], limits: .proxyRequest) {
                case .complete(let head, let length):
                    let raw = Array(buffer[..<length])
                    buffer.removeFirst(length)
                    return (head, raw)
                case .failed(let error):
                    throw error
                case .incomplete:
                    guard try await fill() else { return nil }
                }
            }
        }

        /// The body `framing` describes, as received.
        private mutating func readBody(_ framing: HTTPBodyFraming) async throws -> [UInt8] {
            switch framing {
            case .none, .untilClose:
                return []
            case .contentLength(let length):
                while buffer.count < Int(length) {
                    guard try await fill() else { throw SocketError.disconnected }
                }
                defer { buffer.removeFirst(Int(length)) }
                return Array(buffer[..<Int(length)])
            case .chunked:
                var scanner = HTTPChunkedBodyScanner()
                var body: [UInt8] = []
                while true {
                    if buffer.isEmpty, try await !fill() { throw SocketError.disconnected }
                    switch scanner.scan(buffer[...]) {
                    case .needsMore:
                        body += buffer
                        buffer.removeAll()
                    case .ended(let used):
                        body += buffer[..<used]
                        buffer.removeFirst(used)
                        return body
                    case .failed(let error):
                        throw error
                    }
                }
            }
        }

        /// Reads what the connection has; false at EOF.
        private mutating func fill() async throws -> Bool {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            let count = try await connection.read(into: &chunk)
            buffer += chunk[..<count]
            return count > 0
        }
    }
}
