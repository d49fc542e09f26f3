import Synchronization

/// Buffers big enough for any datagram, lent to UDP and UoT relays only while a datagram is in hand.
///
/// An idle association or stream then holds no buffer at all; the pool keeps a bounded number of idle
/// buffers so that busy relays do not allocate per datagram. A second pool of the same kind lends the
/// smaller buffers a SOCKS5 handshake reads into, so that a new session does not allocate one.
final class DatagramBufferPool: Sendable {
    /// The pool every relay of the process shares.
    static let shared = DatagramBufferPool(capacity: 64)
    /// Handshake read buffers (`SOCKSSession.handshakeReadSize` bytes), shared by every session.
    static let handshakes = DatagramBufferPool(capacity: 256, bufferSize: SOCKSSession.handshakeReadSize)

    /// Room in front of the payload, for a header written in place: a SOCKS UDP header or a UoT frame
    /// header with a domain (1 + 1 + 255 + 2 + 2 bytes) fits.
    static let headroom = 264
    /// The datagram buffers' size: the headroom and the largest datagram.
    static let datagramBufferSize = headroom + 65536

    private let idle = Mutex<[[UInt8]]>([])
    private let capacity: Int
    /// Every buffer's size.
    let bufferSize: Int

    init(capacity: Int, bufferSize: Int = DatagramBufferPool.datagramBufferSize) {
        self.capacity = capacity
        self.bufferSize = bufferSize
    }

    /// A buffer of `bufferSize` bytes (its contents are unspecified).
    func borrow() -> [UInt8] {
        idle.withLock { $0.popLast() } ?? [UInt8](repeating: 0, count: bufferSize)
    }

    /// Gives a buffer back; past the capacity it is freed.
    func giveBack(_ buffer: consuming [UInt8]) {
        guard buffer.count == bufferSize else { return }
        let buffer = buffer
        idle.withLock { idle in
            if idle.count < capacity { idle.append(buffer) }
        }
    }

    /// Runs `body` with a borrowed buffer and gives it back afterwards, however `body` ends.
    func withBuffer<Result>(_ body: (inout [UInt8]) async throws -> Result) async rethrows -> Result {
        var buffer = borrow()
        defer { giveBack(buffer) }
        return try await body(&buffer)
    }
}
