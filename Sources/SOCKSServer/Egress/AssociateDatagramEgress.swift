import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// Datagrams through an upstream proxy's own UDP ASSOCIATE, whose control connection stays open for the
/// relay's life: when the upstream closes it, the egress has ended. Its local UDP socket counts among this
/// server's own until `close()`.
final class AssociateDatagramEgress: ReadableDatagramEgress {
    let association: SOCKSUDPAssociation
    private let registration: OwnAddresses.Registration

    init(association: SOCKSUDPAssociation, ownAddresses: OwnAddresses) {
        self.association = association
        registration = ownAddresses.register(association.socket.localAddress, .udp)
    }

    func sendsWithoutLookup(to destination: SOCKSEndpoint) -> Bool { true }

    func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async throws {
        try await association.send(payload, to: destination)
    }

    func makeReplyReader() -> any DatagramReplyReader {
        ReplyReader(association: association, datagrams: association.socket.datagrams().makeAsyncIterator())
    }

    /// The local socket's datagrams, unwrapped: the payload stays where it lies, behind the upstream's
    /// header, in the socket's read buffer (no copy). Datagrams the association skips are not replies.
    private struct ReplyReader: DatagramReplyReader {
        let association: SOCKSUDPAssociation
        var datagrams: UDPSocket.Datagrams.Iterator

        mutating func next() async throws -> DatagramReply? {
            while let datagram = try await datagrams.next() {
                if let (payload, source) = association.unwrap(datagram) { return .datagram(payload: payload, source: source) }
            }
            return nil
        }
    }

    /// The upstream ends the association by closing its control connection, which only a read shows.
    var endsOutsideReceive: Bool { true }

    func waitUntilEnded() async {
        var scratch = [UInt8](repeating: 0, count: 256)
        while let count = try? await association.control.read(into: &scratch), count > 0 {}
    }

    func close() {
        association.close()
        registration.end()
    }
}
