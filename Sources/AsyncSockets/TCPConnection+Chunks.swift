extension TCPConnection {
    /// The bytes the peer sends, as an `AsyncSequence` of chunks; the sequence ends at EOF.
    ///
    /// The iterator reads into one buffer of `chunkSize` bytes, made once. Each element is a slice of that
    /// buffer: a consumer that lets go of a chunk before asking for the next one (as a relay does) makes the
    /// whole stream run without allocating.
    public func chunks(chunkSize: Int = 64 * 1024) -> Chunks {
        Chunks(connection: self, chunkSize: chunkSize)
    }

    /// An `AsyncSequence` of the chunks read from a connection.
    public struct Chunks: AsyncSequence, Sendable {
        public typealias Element = ArraySlice<UInt8>
        let connection: TCPConnection
        let chunkSize: Int

        public func makeAsyncIterator() -> Iterator {
            Iterator(connection: connection, buffer: [UInt8](repeating: 0, count: chunkSize))
        }

        /// Reads the next chunk; `nil` at EOF.
        public struct Iterator: AsyncIteratorProtocol, Sendable {
            let connection: TCPConnection
            var buffer: [UInt8]

            public mutating func next() async throws -> ArraySlice<UInt8>? {
                let count = try await connection.read(into: &buffer)
                return count == 0 ? nil : buffer[0..<count]
            }
        }
    }
}
