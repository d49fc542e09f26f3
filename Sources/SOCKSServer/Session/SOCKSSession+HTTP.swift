extension SOCKSSession {
    /// The HTTP side of a listener: the connection's first byte was an ASCII letter, so `firstBytes` (all
    /// read so far, at least one byte) start an HTTP/1.x request line. The handshake deadline
    /// (`handshakeDeadline`) still runs and closes the connection when it fires; `run()` closes the
    /// connection and writes the access line when this returns.
    ///
    /// For now every request is answered `501 Not Implemented` and closed. The HTTP proxy (CONNECT tunnels
    /// through `serveConnect` with `dialect = .httpConnect`, absolute-form requests, Proxy-Authorization)
    /// replaces this body; nothing else in the session needs to change for it.
    func serveHTTP(firstBytes: [UInt8]) async {
        // No request was served: like a SOCKS handshake that ended without one (and counted so).
        record.handshakeFailed = true
        record.outcome = "failed(http 501)"
        context.logger.warning("session \(record.client): HTTP proxy request answered 501: HTTP is not served yet")
        try? await connection.write(ClientDialect.httpStatusLine(501, "Not Implemented", closing: true))
    }
}
