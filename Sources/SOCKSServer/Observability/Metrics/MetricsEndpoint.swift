import AsyncSockets
import SOCKSProtocol
import Synchronization

/// A small HTTP/1.1 responder for a server's metrics and health, to scrape with Prometheus:
///
/// - `GET /metrics`: `ServerMetrics.prometheusText(version:droppedLogLines:)` with the server logger's dropped
///   lines, as `text/plain; version=0.0.4`;
/// - `GET /healthz`: 200 `ok` while the server is serving; 503 with the phase (`ready`, `draining`,
///   `stopped`) otherwise — keep the endpoint running while the server drains, so probes see it;
/// - `HEAD` for both; 404 for other paths, 405 for other methods on these, 400 for what is not HTTP/1.x,
///   431 for a head over 8 KiB or 100 fields, 505 for another HTTP version.
///
/// ```swift
/// let endpoint = try MetricsEndpoint(bindingTo: SocketAddress("127.0.0.1", port: 9090), server: server, version: "0.1.0")
/// async let metrics: Void = endpoint.run()
/// ```
///
/// The endpoint counts among the server's own addresses while it listens: a request through the proxy for
/// it is denied like one for the proxy's own listeners (SOCKS reply `02`, HTTP 403), whatever the rules say.
///
/// Each connection gets one answer, then `Connection: close`. Hostile clients cost little and hold little:
/// a whole exchange (head in, answer out) must finish within `requestTimeout` or the connection is closed;
/// the head is read into at most 8 KiB and at most 64 KiB are read after the answer; at most
/// `maximumConnections` connections are served at once. Idle connections cannot keep a probe out: when
/// every slot is taken, a new connection takes the slot of the oldest one that has not sent a complete
/// request (or, failing that, of one already answered, then of one being answered), which is closed
/// (`MetricsConnectionSlots`).
package final class MetricsEndpoint: Sendable {
    /// The address the endpoint listens on, with the real port when port 0 was asked for.
    package var localAddress: SocketAddress { listener.localAddress }

    private let listener: TCPListener
    /// The listening address's place among the server's own, from binding to `close()`.
    private let registration: OwnAddresses.Registration
    private let server: SOCKSServer
    private let version: String
    private let requestTimeout: Duration
    private let slots: MetricsConnectionSlots
    private let limits = HTTPRequestHead.Limits(maximumLength: 8 * 1024, maximumFields: 100)
    private let started = Atomic<Bool>(false)
    /// Accept failures (out of descriptors) are logged once per streak by the listener; this spaces streaks.
    private let exhaustionReport = RateLimitedReport(interval: .seconds(10))

    /// The content type of `/metrics`: the text format, version 0.0.4.
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Binds the endpoint's listening socket, so that a port in use fails here, before `run()`.
    ///
    /// - Parameters:
    ///   - address: where to listen.
    ///   - server: the server whose metrics it serves.
    ///   - version: the `version` label of `socksd_build_info`.
    ///   - requestTimeout: how long one connection may take, from accept to the end of the answer.
    ///   - maximumConnections: connections served at once; beyond them, a new connection takes the slot of
    ///     one that waits on its client (see the type's notes).
    ///   - passed: listening sockets another process passed on (socket activation, an upgrade): the one for
    ///     `address` is taken instead of binding (`PassedListeners`).
    /// - Throws: `SocketError` when the address cannot be bound (for example `EADDRINUSE`).
    package init(
        bindingTo address: SocketAddress, server: SOCKSServer, version: String, requestTimeout: Duration = .seconds(10),
        maximumConnections: Int = 64, passed: PassedListeners = .none
    ) throws {
        listener = try passed.take(address) ?? TCPListener(bindingTo: address, backlog: 128, loop: server.eventLoops.next())
        registration = server.ownAddresses.register(listener.localAddress, .tcp)
        self.server = server
        self.version = version
        self.requestTimeout = requestTimeout
        slots = MetricsConnectionSlots(capacity: maximumConnections)
    }

    /// Connections being served now (for tests of its bounds).
    var openConnectionCount: Int { slots.count }

    /// Connections being served now that have not sent a complete request (for tests of the eviction).
    var connectionsAwaitingRequest: Int { slots.count(at: .awaitingRequest) }

    /// Accepts and answers requests until `close()` or cancellation; then ends the exchanges in progress and
    /// returns. A second call returns at once.
    package func run() async {
        guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let logger = server.configuration.logger
        let address = listener.localAddress
        await withDiscardingTaskGroup { group in
            let connections = listener.connections(onResourceExhaustion: { [exhaustionReport] error in
                exhaustionReport { logger.error("metrics endpoint \(address): accept failed: \(error); retrying") }
            })
            do {
                for try await connection in connections {
                    let (ticket, evicted) = slots.admit(connection)
                    // Its task wakes from its read or write and ends; its slot is this connection's already.
                    evicted?.close()
                    group.addTask(executorPreference: connection.eventLoop) {
                        await self.serve(connection, ticket: ticket)
                        self.slots.release(ticket)
                    }
                }
            } catch is CancellationError {
                // run() was cancelled: the exchanges are being cancelled too.
            } catch {
                logger.error("metrics endpoint \(address) stopped: \(error)")
            }
            // Closed or cancelled: an answer in progress is not worth waiting out its deadline for.
            group.cancelAll()
        }
    }

    /// Stops listening and ends the exchanges in progress; `run()` returns. Safe from any context, any
    /// number of times.
    package func close() {
        listener.close()
        registration.end()
    }

    /// Stops accepting in this process and ends the exchanges in progress, but leaves the listening socket
    /// open for the process it was handed to (`TCPListener.release()`): the new socksd of an upgrade goes on
    /// answering on this address.
    package func release() {
        listener.release()
        registration.end()
    }

    /// The listening socket: what an upgrade passes on.
    package var listeningSocket: TCPListener { listener }

    /// One exchange: read a head, answer it, then let the client close first; `ticket` follows its stages.
    private func serve(_ connection: TCPConnection, ticket: MetricsConnectionSlots.Ticket) async {
        // The deadline closes the connection, which wakes whatever read or write is waiting: one loop
        // timer per connection, no task.
        let deadline = connection.closing(after: requestTimeout)
        defer {
            deadline.cancel()
            connection.close()
        }
        let response: HTTPResponse
        var includingBody = true
        switch await readHead(from: connection) {
        case nil:
            return
        case .success(let head)?:
            slots.advance(ticket, to: .answering)
            response = answer(head)
            includingBody = head.method != "HEAD"
        case .failure(let error)?:
            slots.advance(ticket, to: .answering)
            response = HTTPResponse(error)
        }
        do {
            try await connection.write(response.encoded(includingBody: includingBody))
        } catch {
            return
        }
        connection.shutdownWrite()
        slots.advance(ticket, to: .lingering)
        await drain(connection)
    }

    /// Reads until the bytes hold a complete head or cannot become one; nil when the client closed first,
    /// the deadline passed or the task was cancelled.
    private func readHead(from connection: TCPConnection) async -> Result<HTTPRequestHead, HTTPRequestHead.ParseError>? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            guard let count = try? await connection.read(into: &buffer), count > 0 else { return nil }
            let chunk = buffer[0..<count]
            let isFirst = received.isEmpty
            // Only the first `maximumLength` bytes can matter: the parser never looks past them.
            received.append(contentsOf: chunk.prefix(max(0, limits.maximumLength - received.count)))
            // The parser reads from the start each time: ask it only when the answer may have changed — a
            // line ended, the limit is reached, or the first bytes came (garbage is answered at once).
            guard isFirst || chunk.contains(UInt8(ascii: "\n")) || received.count >= limits.maximumLength else { continue }
            switch HTTPRequestHead.parse(received[...], limits: limits) {
            case .incomplete: continue
            case .complete(let head, _): return .success(head)
            case .failed(let error): return .failure(error)
            }
        }
    }

    private func answer(_ head: HTTPRequestHead) -> HTTPResponse {
        let isRead = head.method == "GET" || head.method == "HEAD"
        switch head.path {
        case "/metrics":
            guard isRead else { return Self.methodNotAllowed }
            let text = server.metrics.prometheusText(version: version, droppedLogLines: server.configuration.logger.droppedLines)
            return HTTPResponse(status: 200, body: text, contentType: Self.metricsContentType)
        case "/healthz":
            guard isRead else { return Self.methodNotAllowed }
            let phase = server.phase
            return phase == .serving ? HTTPResponse(status: 200, body: "ok\n") : HTTPResponse(status: 503, body: "\(phase)\n")
        default:
            return HTTPResponse(status: 404, body: "not found\n")
        }
    }

    private static let methodNotAllowed = HTTPResponse(status: 405, body: "method not allowed\n", extraFields: [("Allow", "GET, HEAD")])

    /// After the answer (and a FIN), reads and discards what the client still sends — a body, pipelined
    /// requests — until it closes, up to 64 KiB, within the deadline. Closing with unread bytes would send a
    /// reset, and a reset can make the client's kernel drop the answer before the client has read it.
    private func drain(_ connection: TCPConnection) async {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var discarded = 0
        while discarded < 64 * 1024, let count = try? await connection.read(into: &buffer), count > 0 {
            discarded += count
        }
    }
}
