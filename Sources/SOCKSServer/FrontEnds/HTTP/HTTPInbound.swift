import AsyncSockets
import SOCKSProtocol

/// What one side of an HTTP exchange has sent and the proxy has not passed on yet: heads are parsed from
/// it and bodies forwarded through it, and what follows a message (a pipelined request, the next response)
/// stays here for the next one. It holds at most one read beyond a head's limit, never a whole body.
///
/// The bytes come through the connection's chunk sequence (`TCPConnection.chunks`), whose iterator is made
/// at the first read and reuses its one buffer of `readSize` bytes for every read after. Pending bytes are
/// a slice of that buffer, so a body passes through without a copy; only a head that a read leaves
/// unfinished has its start copied out of the buffer (into storage of its own, grown by the reads that
/// complete it) before the next read reuses the buffer.
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
    /// The reads; nil until the first (a head that came whole with the first bytes costs no buffer).
    private var chunks: TCPConnection.Chunks.Iterator?
    /// The bytes received and not yet used: a slice of the chunk buffer, or of storage of their own.
    private(set) var pending: ArraySlice<UInt8>
    /// Whether `pending` lies in the chunk buffer, which the next read overwrites.
    private var pendingInChunk = false
    /// The most one read takes: the size of the chunk buffer, held by each connection that has read once,
    /// idle keep-alive connections among them (the client's and a kept origin's: two per idle forwarding
    /// connection). 16 KiB, as before the reads went through the sequence, and as large as the head limit.
    /// Measured with 300 idle keep-alive forwarding connections (release build): the live heap per
    /// connection is what it was (46.9 KB of malloc, 46.4 before; the two buffers are 32.8 KB of it);
    /// anonymous RSS grows 38.7 KiB per connection on a fresh daemon (31.0 before), but after three rounds
    /// of 300 connections the high-water mark is the same (16,024 KiB; 16,144 before): glibc touches the
    /// pages in another order, the connections hold no more.
    static let readSize = 16 * 1024

    init(connection: TCPConnection, buffered: [UInt8] = []) {
        self.connection = connection
        self.pending = buffered[...]
    }

    /// Marks the first `count` pending bytes as used.
    mutating func consume(_ count: Int) {
        pending.removeFirst(count)
        if pending.isEmpty { letGo() }
    }

    /// Takes every pending byte.
    mutating func takeAll() -> [UInt8] {
        defer { letGo() }
        return Array(pending)
    }

    /// Drops the (used) pending bytes' hold on their storage: the chunk buffer is then the iterator's
    /// alone, and the next read reuses it instead of copying it.
    private mutating func letGo() {
        pending = []
        pendingInChunk = false
    }

    /// Reads what the connection has (waiting for at least one byte) after the pending bytes.
    ///
    /// - Returns: false at EOF.
    nonisolated(nonsending) mutating func fill() async throws -> Bool {
        if chunks == nil { chunks = connection.chunks(chunkSize: Self.readSize).makeAsyncIterator() }
        guard !pending.isEmpty else {
            letGo()
            guard let chunk = try await chunks!.nextChunk() else { return false }
            pending = chunk
            pendingInChunk = true
            return true
        }
        // The start of a message stays: out of the chunk buffer (which the read reuses) first.
        var held = pendingInChunk ? ArraySlice(Array(pending)) : pending
        letGo()
        defer { pending = held }
        guard let chunk = try await chunks!.nextChunk() else { return false }
        held.append(contentsOf: chunk)
        return true
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
