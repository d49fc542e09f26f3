extension ProxyHeader {
    /// The header as a sender writes it: the v1 line for `version` 1, the v2 binary header otherwise. For tests, fuzzing, and a client that
    /// has to speak to a PROXY protocol listener.
    ///
    /// Addresses are written only for `.proxy` with both endpoints of the same family (4 or 16 bytes); any
    /// other header becomes what a sender writes when it has no addresses to give: v1 `PROXY UNKNOWN\r\n`
    /// (v1 has no LOCAL either), v2 with the UNSPEC family and transport and no address block. v2 addresses
    /// go out as STREAM (TCP), v1 IPv6 in the RFC 5952 form. No TLVs.
    package func encoded() -> [UInt8] {
        var addresses: (source: ProxyEndpoint, destination: ProxyEndpoint)?
        if command == .proxy, let source, let destination, source.address.count == destination.address.count,
            source.address.count == 4 || source.address.count == 16
        {
            addresses = (source, destination)
        }
        if version == 1 {
            guard let (source, destination) = addresses else { return Array("PROXY UNKNOWN\r\n".utf8) }
            let family = source.address.count == 4 ? "TCP4" : "TCP6"
            let line = "PROXY \(family) \(IPAddressText.format(source.address)) \(IPAddressText.format(destination.address))"
                + " \(source.port) \(destination.port)\r\n"
            return Array(line.utf8)
        }
        var bytes = ProxyHeaderV2Parser.signature
        bytes.append(command == .proxy ? 0x21 : 0x20)
        guard let (source, destination) = addresses else {
            bytes += [0x00, 0x00, 0x00]
            return bytes
        }
        bytes.append(source.address.count == 4 ? 0x11 : 0x21)
        bytes.appendUInt16(UInt16(source.address.count * 2 + 4))
        bytes += source.address
        bytes += destination.address
        bytes.appendUInt16(source.port)
        bytes.appendUInt16(destination.port)
        return bytes
    }
}
