import AsyncSockets
import SOCKSProtocol

/// What one side of an HTTP exchange has sent and the proxy has not passed on yet: heads are parsed from
/// it and bodies forwarded through it, and what follows a message (a pipelined request, the next response)
/// stays here for the next one. It holds at most one read beyond a head's limit, never a whole body.
struct HTTPInbound: Sendable {
    /// Why a message could not be passed on whole.
    enum Failure: Error, CustomStringConvertible {
        /// The connection ended inside a head or a body.
        case truncated
        /// A chunked body whose framing is broken.
        case chunked(HTTPChunkedBodyError)

        var description: String {
            switch self {
            case .truncated: "the connection ended inside the message"
            case .chunked(let error): "bad chunked body: \(error)"
            }
        }
    }

    let connection: TCPConnection
    private var buffer: [UInt8]
    /// Where the bytes not yet used start in `buffer`.
    private var start = 0
    /// The most one read takes.
    static let readSize = 16 * 1024

    init(connection: TCPConnection, buffered: [UInt8] = []) {
        self.connection = connection
        self.buffer = buffered
    }

    /// The bytes received and not yet used.
    var pending: ArraySlice<UInt8> { buffer[start...] }

    /// Marks the first `count` pending bytes as used.
    mutating func consume(_ count: Int) {
        start += count
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
    }

    /// Takes every pending byte.
    mutating func takeAll() -> [UInt8] {
        defer { consume(buffer.count - start) }
        return Array(pending)
    }

    /// Reads what the connection has (waiting for at least one byte) after the pending bytes.
    ///
    /// - Returns: false at EOF.
    mutating func fill() async throws -> Bool {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        let end = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: Self.readSize))
        let count: Int
        do {
            count = try await connection.read(into: &buffer, at: end)
        } catch {
            buffer.removeLast(Self.readSize)
            throw error
        }
        buffer.removeLast(Self.readSize - count)
        return count > 0
    }

    /// Passes the body `framing` describes to `sink` as it arrives, unchanged; bytes after it stay
    /// pending. `write` sends each piece (counting and pacing it as the caller wants).
    ///
    /// - Throws: `Failure.truncated` if the connection ends first (for `untilClose`, EOF is the end);
    ///   `Failure.chunked` for a broken chunked body; the connections' errors.
    /// It runs on the caller's actor (`isolation`), so `write` may use that actor's state.
    mutating func forwardBody(
        _ framing: HTTPBodyFraming, isolation: isolated (any Actor)? = #isolation, write: (ArraySlice<UInt8>) async throws -> Void
    ) async throws {
        switch framing {
        case .none:
            return
        case .contentLength(let length):
            var remaining = length
            while remaining > 0 {
                if pending.isEmpty, try await !fill() { throw Failure.truncated }
                let piece = pending.prefix(Int(min(remaining, UInt64(pending.count))))
                try await write(piece)
                consume(piece.count)
                remaining -= UInt64(piece.count)
            }
        case .chunked:
            var scanner = HTTPChunkedBodyScanner()
            while true {
                if pending.isEmpty, try await !fill() { throw Failure.truncated }
                switch scanner.scan(pending) {
                case .needsMore:
                    let piece = pending
                    try await write(piece)
                    consume(piece.count)
                case .ended(let used):
                    let piece = pending.prefix(used)
                    try await write(piece)
                    consume(used)
                    return
                case .failed(let error):
                    throw Failure.chunked(error)
                }
            }
        case .untilClose:
            while true {
                if !pending.isEmpty {
                    let piece = pending
                    try await write(piece)
                    consume(piece.count)
                }
                guard try await fill() else { return }
            }
        }
    }
}
