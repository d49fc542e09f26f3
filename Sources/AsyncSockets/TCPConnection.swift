import CEpoll
import Glibc
import Synchronization

/// A connected, nonblocking TCP socket with async reads and writes.
///
/// One task may read while another writes; two concurrent readers (or writers) are not supported.
/// The socket is closed by `close()` or, at the latest, when the last reference goes away.
public final class TCPConnection: Sendable {
    let descriptor: SocketDescriptor

    /// The local end of the connection, read from the kernel on first use (many connections never ask).
    public var localAddress: SocketAddress {
        if let known = local.withLock({ $0 }) { return known }
        let address = descriptor.localAddress ?? SocketAddress(ip: .ipv4Any, port: 0)
        local.withLock { $0 = address }
        return address
    }
    private let local: Mutex<SocketAddress?>
    /// The peer's end of the connection.
    public let remoteAddress: SocketAddress

    /// - Parameter inheritsNoDelay: whether the socket already has `TCP_NODELAY` (Linux copies it from the
    ///   listening socket to each accepted one), which saves a system call per accepted connection.
    /// - Parameter dialed: whether this side connected the socket (see `inputLooksDrained`).
    init(descriptor: SocketDescriptor, remoteAddress: SocketAddress? = nil, inheritsNoDelay: Bool = false, dialed: Bool = false) throws(SocketError) {
        self.descriptor = descriptor
        if dialed { descriptor.registration.noteInput(drained: true) }
        guard let remote = remoteAddress ?? descriptor.remoteAddress else {
            throw .failed(operation: "getpeername", errno: .notConnected)
        }
        self.local = Mutex(nil)
        self.remoteAddress = remote
        // Small writes (handshake replies, interactive traffic) should not wait for Nagle's timer.
        if !inheritsNoDelay {
            try? descriptor.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        }
    }

    /// Reads what is available, up to `buffer.count` bytes, into the front of `buffer`.
    ///
    /// - Returns: the number of bytes read; 0 means the peer closed its side (EOF).
    nonisolated(nonsending) public func read(into buffer: inout [UInt8]) async throws -> Int {
        try await read(into: &buffer, at: 0)
    }

    /// Reads what is available, up to the room after `offset`, into `buffer` from `offset` on.
    ///
    /// - Returns: the number of bytes read; 0 means the peer closed its side (EOF).
    @inline(__always)  // `read(into:)` is this with offset 0: no frame of its own on every read
    nonisolated(nonsending) package func read(into buffer: inout [UInt8], at offset: Int) async throws -> Int {
        var waitFirst = inputLooksDrained
        while true {
            if waitFirst { try await descriptor.registration.wait(for: .read) }
            if let count = try readNow(into: &buffer, at: offset) { return count }
            waitFirst = true
        }
    }

    /// Whether the last read found nothing more waiting (`IORegistration.inputLooksDrained`): a reader that
    /// waits for `.readable` before its next `readNow` then loses nothing and saves a `recv` that would fail
    /// with `EAGAIN`. True from the start for a socket this side dialed (registered before its first byte
    /// could come); false for an accepted one, whose first bytes usually arrive before its registration and
    /// are read at once.
    package var inputLooksDrained: Bool { descriptor.registration.inputLooksDrained }

    /// Whether an event has said that the peer finished or reset (`IORegistration.peerHasEnded`): cheap, and
    /// what to ask before `takePendingReset()`, which costs a system call.
    package var peerHasEnded: Bool { descriptor.registration.peerHasEnded }

    /// The reset the kernel holds for this socket (`SO_ERROR` naming `ECONNRESET`, `EPIPE` or `ETIMEDOUT`),
    /// taken (the kernel clears it); nil when there is none. Unlike the TCP state, it tells a reset from a
    /// connection that closed in order (both FINs exchanged also leave the state `CLOSE`); other errors
    /// there are soft ones TCP recovers from (an ICMP unreachable), and are put back as none.
    package func takePendingReset() -> SocketError? {
        switch descriptor.takePendingError() {
        case let error? where error == .connectionReset || error == .brokenPipe || error == .timedOut:
            return .from(error, operation: "recv")
        default:
            return nil
        }
    }

    /// Notes what a read through another call (`splice`, a peek) found: `true` when the receive queue was
    /// left empty.
    package func noteInput(drained isEmpty: Bool) {
        descriptor.registration.noteInput(drained: isEmpty)
    }

    /// Notes what a `recv` of up to `room` bytes returned (`nil`: `EAGAIN`).
    private func noteRead(_ count: Int?, room: Int) {
        guard let count else { return noteInput(drained: true) }
        // EOF is no reason to wait: a read after it returns 0 at once, and no edge would come.
        noteInput(drained: count > 0 && count < room)
    }

    /// Reads what is available now, without waiting.
    ///
    /// - Returns: the number of bytes read (0 at EOF), or `nil` when nothing is available yet (wait for
    ///   `.readable` and try again).
    package func readNow(into buffer: inout [UInt8], at offset: Int = 0) throws(SocketError) -> Int? {
        let fd = descriptor.fd
        let count = try descriptor.attempt(operation: "recv") {
            buffer.withUnsafeMutableBytes { whole in
                let room = UnsafeMutableRawBufferPointer(rebasing: whole[offset...])
                return Glibc.recv(fd, room.baseAddress, room.count, 0)
            }
        }
        noteRead(count, room: buffer.count - offset)
        return count
    }

    /// Reads what is available now into `buffer`, without waiting (a buffer on the caller's stack, say).
    ///
    /// - Returns: the number of bytes read (0 at EOF), or `nil` when nothing is available yet.
    package func readNow(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int? {
        let fd = descriptor.fd
        let count = try descriptor.attempt(operation: "recv") { Glibc.recv(fd, buffer.baseAddress, buffer.count, 0) }
        noteRead(count, room: buffer.count)
        return count
    }

    /// Waits until bytes (or EOF) may be waiting; wakes early, never late. Call it only after `readNow`
    /// found nothing, or came back short (`inputLooksDrained`): readiness is edge-triggered, so bytes
    /// already waiting bring no new wake-up.
    nonisolated(nonsending) package func waitUntilReadable() async throws {
        try descriptor.checkOpen()
        try await descriptor.registration.wait(for: .read)
    }

    /// Writes what the socket takes now, without waiting.
    ///
    /// - Returns: the number of bytes written, or `nil` when the socket takes nothing now (wait for
    ///   `.writable` and try again).
    package func writeNow(_ bytes: ArraySlice<UInt8>) throws(SocketError) -> Int? {
        let fd = descriptor.fd
        return try descriptor.attempt(operation: "send") {
            bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Writes what the socket takes of `bytes` now, without waiting.
    ///
    /// - Returns: the number of bytes written, or `nil` when the socket takes nothing now.
    package func writeNow(_ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int? {
        let fd = descriptor.fd
        return try descriptor.attempt(operation: "send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes all of `bytes`, waiting for buffer space as often as needed.
    nonisolated(nonsending) public func write(_ bytes: ArraySlice<UInt8>) async throws {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            if let written = try writeNow(bytes[offset...]) {
                offset += written
            } else {
                try await descriptor.registration.wait(for: .write)
            }
        }
    }

    /// Writes all of `bytes`.
    nonisolated(nonsending) public func write(_ bytes: [UInt8]) async throws {
        try await write(bytes[...])
    }

    /// Sends a FIN: the peer reads EOF, while this side can still read what the peer sends.
    public func shutdownWrite() {
        guard !descriptor.isClosed else { return }
        _ = Glibc.shutdown(descriptor.fd, Int32(SHUT_WR))
    }

    /// Closes the connection; tasks waiting to read or write wake with `SocketError.closed`.
    public func close() {
        descriptor.close()
    }

    /// Ends the connection with a reset (RST) instead of a FIN, so the peer learns the stream was cut
    /// short; tasks waiting to read or write wake with `SocketError.closed`.
    public func abort() {
        descriptor.abort()
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { descriptor.isClosed }

    /// The loop that watches this connection. A task that serves it runs best with this loop as its
    /// executor preference: its wake-ups then never cross threads.
    package var eventLoop: EventLoop { descriptor.loop }
}
