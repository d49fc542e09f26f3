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

    /// Hands the replies that reach this egress to `handle`, one at a time and in the calling task (the one
    /// task that reads them), each before the next is read: a reply's payload is a slice of a read buffer,
    /// to let go of when `handle` returns. Throws when the egress has ended or `handle` throws.
    func forEachReply(_ handle: (DatagramReply) async throws -> Void) async throws

    /// Whether the egress can end while no reply read shows it (an upstream's control connection
    /// closing): only then does a relay spend a task on `waitUntilEnded()`. An egress whose end shows as a
    /// read error (a UoT stream's EOF) or that cannot end (a local socket) says `false`.
    var endsOutsideReceive: Bool { get }

    /// Returns when the egress can no longer carry datagrams. Called only when `endsOutsideReceive`.
    func waitUntilEnded() async

    func close()
}

/// An egress whose replies arrive one way, read by one reader: every egress but `RoutedDatagramEgress`,
/// which merges the replies of the egresses it opens.
protocol ReadableDatagramEgress: DatagramEgress {
    /// A reader of the replies, for the one task that reads them (`replies` wraps it in a sequence). Its
    /// payloads are slices of a buffer it borrows from `DatagramBufferPool` only while replies come, so an
    /// idle relay holds none; it throws when the egress has ended.
    func makeReplyReader() -> any DatagramReplyReader
}

extension ReadableDatagramEgress {
    /// The replies that reach this egress, as an `AsyncSequence` (read by one task; it throws when the
    /// egress has ended).
    var replies: DatagramReplies { DatagramReplies(egress: self) }

    func forEachReply(_ handle: (DatagramReply) async throws -> Void) async throws {
        for try await reply in replies { try await handle(reply) }
    }
}

/// What reached an egress from the far side.
enum DatagramReply {
    /// A datagram to hand to the client: its payload (a slice of the reader's buffer, to let go of before
    /// the next reply) and where it came from.
    case datagram(payload: ArraySlice<UInt8>, source: SOCKSEndpoint)
    /// A datagram the egress refused (the relay counts it as a drop and goes on).
    case refused(RefusedReply)
}

/// Reads an egress's replies, one at a time.
protocol DatagramReplyReader {
    /// The next reply, waiting for one; `nil` or a throw when the egress has ended.
    mutating func next() async throws -> DatagramReply?
}

/// The replies an egress receives, as an `AsyncSequence`: what a relay's client-bound half reads.
struct DatagramReplies: AsyncSequence, Sendable {
    typealias Element = DatagramReply
    let egress: any ReadableDatagramEgress

    func makeAsyncIterator() -> Iterator {
        Iterator(reader: egress.makeReplyReader())
    }

    struct Iterator: AsyncIteratorProtocol {
        var reader: any DatagramReplyReader

        mutating func next() async throws -> DatagramReply? {
            try await reader.next()
        }
    }
}

/// Why an egress stopped.
enum DatagramEgressError: Error, CustomStringConvertible {
    case upstreamClosed

    var description: String { "the upstream closed the stream" }
}
