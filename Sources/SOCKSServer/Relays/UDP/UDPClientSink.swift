import AsyncSockets
import SOCKSProtocol

/// Replies to a UDP ASSOCIATE client: each in a SOCKS UDP header naming its source, sent from the
/// association's client-facing socket to the address the client's first datagram came from.
struct UDPClientSink: ClientDatagramSink {
    let socket: UDPSocket
    let client: UDPClientLatch
    let drop: DropReporter
    /// The header of the reply in hand, rebuilt in place for each (no allocation per reply).
    private var header: [UInt8] = []

    init(socket: UDPSocket, client: UDPClientLatch, drop: DropReporter) {
        self.socket = socket
        self.client = client
        self.drop = drop
    }

    func accepts(from source: SOCKSEndpoint) -> Bool {
        guard client.address != nil else {
            drop(.clientUnknown, "from \(source) before the client's first datagram")
            return false
        }
        return true
    }

    mutating func deliver(_ payload: ArraySlice<UInt8>, from source: SOCKSEndpoint) async throws -> Bool {
        guard let destination = client.address else { return false }
        if let encapsulation = client.encapsulation {
            // Under GSS-API protection (the latch says), in a function of its own, so that the frames of a relay without protection do not grow.
            return await deliverEncapsulated(payload, from: source, to: destination, encapsulation)
        }
        header.removeAll(keepingCapacity: true)
        header += [0, 0, 0]  // RSV, FRAG
        header.appendEndpoint(source)
        do {
            // Header and payload gathered into one datagram: the payload is not copied.
            try await socket.send(header: header[...], payload: payload, to: destination)
            return true
        } catch {
            drop(.undeliverable, "to client \(destination): \(error)")
            return false
        }
    }

    /// A reply under GSS-API protection: header and payload wrapped whole into one message, one datagram.
    private func deliverEncapsulated(
        _ payload: ArraySlice<UInt8>, from source: SOCKSEndpoint, to destination: SocketAddress, _ encapsulation: GSSAPIEncapsulation
    ) async -> Bool {
        var plaintext: [UInt8] = [0, 0, 0]  // RSV, FRAG
        plaintext.appendEndpoint(source)
        plaintext += payload
        guard let sealed = encapsulation.sealDatagram(plaintext) else {
            drop(.undeliverable, "to client \(destination): cannot be wrapped into one GSS-API message")
            return false
        }
        do {
            try await socket.send(sealed, to: destination)
            return true
        } catch {
            drop(.undeliverable, "to client \(destination): \(error)")
            return false
        }
    }
}
