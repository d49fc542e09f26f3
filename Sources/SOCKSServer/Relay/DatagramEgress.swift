import AsyncSockets
import SOCKSProtocol

/// The far side of a UDP relay (UDP ASSOCIATE or a UoT stream): where the client's datagrams go and
/// where replies come from. Straight to the network, or through an upstream proxy.
protocol DatagramEgress: Sendable {
    /// Whether a datagram to `destination` can go out without a name lookup. A relay sends those inline
    /// and the rest from child tasks, so that one slow name never holds up other datagrams.
    func sendsWithoutLookup(to destination: SOCKSEndpoint) -> Bool

    /// Sends one datagram (resolving a name first if needed).
    func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async throws

    /// Waits until a reply may be ready to `receive` (early wake-ups are fine), so that a relay holds no
    /// buffer while nothing arrives. An egress that cannot tell returns at once.
    func waitUntilReadable() async throws

    /// Receives the next reply into `buffer` at `offset`.
    ///
    /// - Returns: the payload's length and its source. Throws when the egress has ended.
    func receive(into buffer: inout [UInt8], at offset: Int) async throws -> (count: Int, source: SOCKSEndpoint)

    /// Whether the egress can end while no `receive` shows it (an upstream's control connection closing):
    /// only then does a relay spend a task on `waitUntilEnded()`. An egress whose end shows as a `receive`
    /// error (a UoT stream's EOF) or that cannot end (a local socket) says `false`.
    var endsOutsideReceive: Bool { get }

    /// Returns when the egress can no longer carry datagrams. Called only when `endsOutsideReceive`.
    func waitUntilEnded() async

    func close()
}

extension DatagramEgress {
    /// Returns at once: the relay then waits inside `receive`, buffer in hand.
    func waitUntilReadable() async throws {}
}

/// Why an egress stopped.
enum DatagramEgressError: Error, CustomStringConvertible {
    case upstreamClosed

    var description: String { "the upstream closed the stream" }
}
