/// The v2 request header, sent once by the client as the first bytes after the SOCKS5 reply:
/// `isConnect(u8) ATYP ADDR PORT`, with SOCKS5's ATYP.
package struct UoTRequestHeader: Hashable, Sendable {
    /// Connect mode: every frame goes to `destination`. Read as "non-zero means connect".
    package var isConnect: Bool
    package var destination: SOCKSEndpoint

    package init(isConnect: Bool, destination: SOCKSEndpoint) {
        self.isConnect = isConnect
        self.destination = destination
    }

    /// The framing of the frames that follow this header.
    package var framing: UoTFraming { isConnect ? .connect : .addressed }

    package static func parse(from reader: inout ByteReader) throws(UoTProtocolError) -> UoTRequestHeader? {
        guard let isConnect = reader.readByte() else { return nil }
        let endpoint: SOCKSEndpoint?
        do {
            endpoint = try reader.readEndpoint()
        } catch .unsupportedAddressType(let type) {
            throw .unknownAddressType(type)
        } catch {
            throw .invalidDomain
        }
        guard var destination = endpoint else { return nil }
        if case .ipv6(let bytes) = destination.address { destination.address = SOCKSAddress.unmappingIPv4(bytes) }
        return UoTRequestHeader(isConnect: isConnect != 0, destination: destination)
    }

    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = [isConnect ? 1 : 0]
        bytes.appendEndpoint(destination)
        return bytes
    }
}
