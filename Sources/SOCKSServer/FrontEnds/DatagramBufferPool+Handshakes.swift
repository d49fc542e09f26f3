import AsyncSockets

extension DatagramBufferPool {
    /// Handshake read buffers (`SOCKSSession.handshakeReadSize` bytes), shared by every session, so that a
    /// new session does not allocate one.
    static let handshakes = DatagramBufferPool(capacity: 256, bufferSize: SOCKSSession.handshakeReadSize)
}
