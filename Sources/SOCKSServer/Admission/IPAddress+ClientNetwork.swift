import AsyncSockets

extension IPAddress {
    /// The key one client is counted under by the per-IP limits, the per-IP rate and login throttling: the
    /// IPv4 address itself, or for IPv6 its /64 network. A single IPv6 host is usually given a whole /64,
    /// so counting each of its addresses apart would give it 2^64 allowances.
    var clientNetwork: IPAddress {
        let ip = unmapped
        guard ip.isIPv6 else { return ip }
        return IPAddress(ipv6High: ip.integerHalves.high, low: 0)
    }
}
