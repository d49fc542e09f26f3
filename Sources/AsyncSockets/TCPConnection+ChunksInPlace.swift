extension TCPConnection.Chunks.Iterator {
    /// The next chunk, as `next()` reads it, but in the caller's isolation: a session that reads its
    /// client's heads through the sequence (its executor the connection's loop) stays there, where
    /// `next()`, a plain `async` requirement, would hop to the global executor and back for every read.
    ///
    /// - Returns: a slice of the iterator's buffer; nil at EOF. Let go of it before the next call, or the
    ///   read copies the buffer.
    nonisolated(nonsending) package mutating func nextChunk() async throws -> ArraySlice<UInt8>? {
        let count = try await connection.read(into: &buffer)
        return count == 0 ? nil : buffer[0..<count]
    }
}
