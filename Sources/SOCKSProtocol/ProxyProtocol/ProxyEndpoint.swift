/// An address and port carried in a PROXY protocol header: where the original client connected from, or the
/// address it connected to.
package struct ProxyEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    package var address: [UInt8]
    package var port: UInt16

    package init(address: [UInt8], port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `192.0.2.1:80` or `[2001:db8::1]:80` (IPv6 in its RFC 5952 form). Only the address bytes are shown,
    /// never text from the wire.
    package var description: String {
        address.count == 16 ? "[\(IPAddressText.format(address))]:\(port)" : "\(IPAddressText.format(address)):\(port)"
    }
}
