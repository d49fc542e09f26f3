import Synchronization

/// Buffers big enough for any datagram, lent to readers (a UDP socket's `datagrams` iterator, UoT frame
/// readers) only while a datagram is in hand.
///
/// An idle association or stream then holds no buffer at all; the pool keeps a bounded number of idle
/// buffers so that busy relays do not allocate per datagram. Other pools of the same kind lend smaller
/// buffers (the server's handshake read buffers, `DatagramBufferPool.handshakes`).
package final class DatagramBufferPool: Sendable {
    /// The pool every relay of the process shares.
    package static let shared = DatagramBufferPool(capacity: 64)

    /// The datagram buffers' size: the largest datagram (or UoT frame payload). No room is kept in front
    /// for a header: relays send a header and a payload gathered (`UDPSocket.send(header:payload:to:)`,
    /// `TCPConnection.write(header:payload:)`), so a payload stays where it was read.
    package static let datagramBufferSize = 65536

    private let idle = Mutex<[[UInt8]]>([])
    private let capacity: Int
    /// Every buffer's size.
    package let bufferSize: Int

    package init(capacity: Int, bufferSize: Int = DatagramBufferPool.datagramBufferSize) {
        self.capacity = capacity
        self.bufferSize = bufferSize
    }

    /// How many buffers wait in the pool now.
    package var idleCount: Int { idle.withLock { $0.count } }

    /// A buffer of `bufferSize` bytes (its contents are unspecified).
    package func borrow() -> [UInt8] {
        idle.withLock { $0.popLast() } ?? [UInt8](repeating: 0, count: bufferSize)
    }

    /// Gives a buffer back; past the capacity it is freed.
    package func giveBack(_ buffer: consuming [UInt8]) {
        guard buffer.count == bufferSize else { return }
        let buffer = buffer
        idle.withLock { idle in
            if idle.count < capacity { idle.append(buffer) }
        }
    }

    /// Runs `body` with a borrowed buffer and gives it back afterwards, however `body` ends.
    package func withBuffer<Result>(_ body: (inout [UInt8]) async throws -> Result) async rethrows -> Result {
        var buffer = borrow()
        defer { giveBack(buffer) }
        return try await body(&buffer)
    }
}
