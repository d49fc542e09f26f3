import SOCKSProtocol

/// How a relay hands a reply to its client: in a SOCKS UDP header on the association's socket
/// (`UDPClientSink`), or in a UoT frame on the stream (`UoTClientSink`). Everything else on the way to the
/// client (refused replies, the bandwidth cap, the count) is `EgressForwarder.relayReplies(to:)`'s, the
/// same for both.
protocol ClientDatagramSink {
    /// Whether a reply from `source` can go to the client at all now; when not, the sink has dropped and
    /// counted it.
    func accepts(from source: SOCKSEndpoint) -> Bool

    /// Wraps `payload` (a slice of the egress's read buffer, not copied) and sends it to the client.
    ///
    /// - Returns: whether it went out; a reply that could not be wrapped or sent has been dropped and
    ///   counted by the sink.
    /// - Throws: when the client's side is gone, which ends the relay.
    mutating func deliver(_ payload: ArraySlice<UInt8>, from source: SOCKSEndpoint) async throws -> Bool
}
