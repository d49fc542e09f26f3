/// The server side of SOCKS4/4a, with no I/O: feed it the client's bytes until it has the request. There is
/// no greeting and no login (SOCKS4 carries no password): one request, then the reply, then the relay.
///
/// However the bytes are split or merged, the same outcome comes out; bytes after the request (data the
/// client sent before it saw the reply) stay for `takeEarlyData()`.
package struct SOCKS4RequestDecoder: Sendable {
    /// What the server must do next.
    package enum Action: Hashable, Sendable {
        /// Read more bytes from the client, pass them to `receive`, and call `next()` again.
        case needMoreBytes
        /// The request is complete: serve it. `takeEarlyData()` returns what the client sent after it.
        case request(SOCKS4Request)
        /// Write `reply` (if any: none for bytes that are not SOCKS4 at all), then close the connection.
        case fail(reply: [UInt8]?, SOCKS4ProtocolError)
    }

    private enum State: Hashable, Sendable {
        case awaitingRequest
        case completed(SOCKS4Request)
        case failed(SOCKS4ProtocolError)
    }

    private var state = State.awaitingRequest
    private var buffer: [UInt8] = []
    private var readIndex = 0

    package init() {}

    /// Adds bytes read from the client.
    package mutating func receive<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Parses as far as the buffered bytes allow. After the end (a request or a failure) it repeats it; a
    /// repeated failure carries no reply (the reply was asked for once).
    package mutating func next() -> Action {
        switch state {
        case .completed(let request):
            return .request(request)
        case .failed(let error):
            return .fail(reply: nil, error)
        case .awaitingRequest:
            var reader = ByteReader(buffer[readIndex...])
            do {
                guard let request = try SOCKS4Request.parse(from: &reader) else { return .needMoreBytes }
                readIndex = reader.position
                state = .completed(request)
                return .request(request)
            } catch {
                state = .failed(error)
                // A client that spoke SOCKS4 but sent a bad field waits for eight bytes; other bytes get none.
                if case .unsupportedVersion = error { return .fail(reply: nil, error) }
                return .fail(reply: SOCKS4Reply(code: .rejected).encoded(), error)
            }
        }
    }

    /// The bytes received after the request. Empties the buffer.
    package mutating func takeEarlyData() -> [UInt8] {
        guard case .completed = state else { return [] }
        defer { buffer = []; readIndex = 0 }
        return Array(buffer[readIndex...])
    }

    /// How many received bytes are not yet consumed.
    package var bufferedByteCount: Int { buffer.count - readIndex }
}
