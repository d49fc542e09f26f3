/// The header before every datagram relayed by UDP ASSOCIATE: `RSV(2) FRAG ATYP DST.ADDR DST.PORT`.
///
/// Toward the target, the endpoint is the destination; toward the client, the source of the reply.
package struct SOCKSUDPHeader: Hashable, Sendable {
    /// The fragment number; 0 is a standalone datagram.
    package var fragment: UInt8
    package var endpoint: SOCKSEndpoint

    package init(fragment: UInt8 = 0, endpoint: SOCKSEndpoint) {
        self.fragment = fragment
        self.endpoint = endpoint
    }

    /// Parses the header at the front of one whole datagram.
    ///
    /// - Returns: the header and the index where the payload starts.
    /// - Throws: `.truncated` when the datagram ends inside the header; `.nonZeroReserved`, or an address error.
    package static func parse(datagram: ArraySlice<UInt8>) throws(SOCKSProtocolError) -> (header: SOCKSUDPHeader, payloadStart: Int) {
        var reader = ByteReader(datagram)
        guard let reserved = reader.readUInt16(), let fragment = reader.readByte() else { throw .truncated }
        guard reserved == 0 else { throw .nonZeroReserved(UInt8(truncatingIfNeeded: reserved >> 8 | reserved)) }
        guard let endpoint = try reader.readEndpoint() else { throw .truncated }
        return (SOCKSUDPHeader(fragment: fragment, endpoint: endpoint), reader.position)
    }

    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = [0, 0, fragment]
        bytes.appendEndpoint(endpoint)
        return bytes
    }
}
