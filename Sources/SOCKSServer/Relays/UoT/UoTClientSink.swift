import AsyncSockets
import SOCKSProtocol

/// Replies to a UoT client: each in a frame on the stream (naming its source in addressed framing). Only
/// the relay's client-bound task writes to the stream, so frames never interleave.
struct UoTClientSink: ClientDatagramSink {
    let connection: TCPConnection
    let framing: UoTFraming
    let drop: DropReporter
    /// The frame header of the reply in hand, rebuilt in place for each (no allocation per reply).
    private var header: [UInt8] = []

    init(connection: TCPConnection, framing: UoTFraming, drop: DropReporter) {
        self.connection = connection
        self.framing = framing
        self.drop = drop
    }

    func accepts(from source: SOCKSEndpoint) -> Bool { true }

    mutating func deliver(_ payload: ArraySlice<UInt8>, from source: SOCKSEndpoint) async throws -> Bool {
        header.removeAll(keepingCapacity: true)
        do {
            try UoTFrame.appendHeader(payloadCount: payload.count, endpoint: framing == .addressed ? source : nil, framing: framing, to: &header)
        } catch {
            drop(.unencodable, "cannot frame a reply: \(error)")
            return false
        }
        // Header and payload gathered into one write: the payload is not copied. A failed write ends the
        // stream (the relay with it).
        try await connection.write(header: header[...], payload: payload)
        return true
    }
}
