import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// Datagrams through an upstream proxy's own UDP ASSOCIATE, whose control connection stays open for the
/// relay's life: when the upstream closes it, the egress has ended. Its local UDP socket counts among this
/// server's own until `close()`.
final class AssociateDatagramEgress: DatagramEgress {
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

    func waitUntilReadable() async throws {
        try await association.socket.waitUntilReadable()
    }

    func receive(into buffer: inout [UInt8], at offset: Int) async throws -> (count: Int, source: SOCKSEndpoint) {
        // The upstream's header lands in front of the payload (in a second pooled buffer); the payload is
        // then moved to `offset`.
        try await DatagramBufferPool.shared.withBuffer { datagram in
            let (payload, source) = try await association.receive(into: &datagram)
            let end = offset + payload.count
            if end > buffer.count { buffer.append(contentsOf: repeatElement(0, count: end - buffer.count)) }
            buffer.replaceSubrange(offset..<end, with: datagram[payload])
            return (payload.count, source)
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
