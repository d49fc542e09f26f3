import AsyncSockets
import SOCKSProtocol

/// What a UoT stream over a TCP connection carries, decoded, as an `AsyncSequence` of
/// `UoTStreamDecoder.View`s (the v2 request header, then frames): the one frame reader of the server's
/// relay, the client library (`UoTClientStream.Frames`) and the upstream egress. Ends at EOF (bytes of an
/// unfinished frame left then are dropped); throws `UoTProtocolError` on malformed bytes, or the read's
/// error.
///
/// Each element's payload is a slice of the decoder's buffer: let go of it before asking for the next, and
/// the iterator reuses that buffer (no allocation per frame; addressed frames still build their
/// endpoint). Reads borrow a buffer from `DatagramBufferPool` only while the socket has bytes and copy
/// them into the decoder, which keeps at most a split frame's bytes and a few KiB of capacity between
/// reads: an idle stream holds no 64 KiB buffer.
package struct UoTFrames: AsyncSequence, Sendable {
    package typealias Element = UoTStreamDecoder.View
    let connection: TCPConnection
    let decoder: UoTStreamDecoder

    /// - Parameters:
    ///   - connection: the stream the frames are read from.
    ///   - decoder: how to read the stream (a server's `UoTStreamDecoder(serverOf:)`, a client's
    ///     `UoTStreamDecoder(framing:)`), with any bytes already read from it received.
    package init(connection: TCPConnection, decoder: UoTStreamDecoder) {
        self.connection = connection
        self.decoder = decoder
    }

    package func makeAsyncIterator() -> Iterator {
        Iterator(connection: connection, decoder: decoder)
    }

    /// Decodes the next header or frame, reading as much as that needs.
    package struct Iterator: AsyncIteratorProtocol, Sendable {
        let connection: TCPConnection
        var decoder: UoTStreamDecoder

        package mutating func next() async throws -> UoTStreamDecoder.View? {
            while true {
                if let view = try decoder.nextView() { return view }
                guard try await readSome() else { return nil }
            }
        }

        /// Reads what the peer has sent into the decoder, waiting if nothing is there yet; `false` at EOF.
        private mutating func readSome() async throws -> Bool {
            decoder.releaseConsumed()
            while true {
                if let count = try readNow() { return count > 0 }
                try await connection.waitUntilReadable()
            }
        }

        /// One read into a borrowed buffer, copied into the decoder; `nil` when nothing is there. A
        /// synchronous function of its own, so the buffer is given back before any wait, whatever the
        /// optimiser does with a local's lifetime.
        private mutating func readNow() throws -> Int? {
            let pool = DatagramBufferPool.shared
            var buffer = pool.borrow()
            defer { pool.giveBack(buffer) }
            guard let count = try connection.readNow(into: &buffer) else { return nil }
            decoder.receive(buffer[0..<count])
            return count
        }
    }
}
