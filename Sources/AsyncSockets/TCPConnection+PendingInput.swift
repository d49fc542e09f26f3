import Glibc

extension TCPConnection {
    /// What a read would find now.
    package enum PendingInput: Sendable {
        /// Bytes wait to be read.
        case bytes
        /// The peer has closed its side (or reset the connection) and nothing is left to read.
        case end
        /// Nothing yet: wait until readable.
        case nothing
    }

    /// Looks at the receive queue with a one-byte `MSG_PEEK`, which leaves every byte where it is: a reader
    /// that borrows its buffer only when there is something to read learns whether it needs one, and tells
    /// the end of a stream from bytes without taking a buffer for it. After `.nothing`, `waitUntilReadable()`
    /// may be called (the peek saw `EAGAIN`).
    ///
    /// - Throws: `SocketError.closed` if this side is closed.
    package func pendingInput() throws(SocketError) -> PendingInput {
        let fd = descriptor.fd
        var byte: UInt8 = 0
        let count: Int?
        do {
            count = try descriptor.attempt(operation: "recv") { Glibc.recv(fd, &byte, 1, Int32(MSG_PEEK)) }
        } catch {
            guard error != .closed else { throw error }
            return .end  // a reset: the stream is over (the next read says how)
        }
        // What the peek saw is what a read would see (`inputLooksDrained`).
        noteInput(drained: count == nil)
        guard let count else { return .nothing }
        return count > 0 ? .bytes : .end
    }
}
