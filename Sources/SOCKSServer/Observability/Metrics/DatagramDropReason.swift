/// Why a UDP relay (UDP ASSOCIATE or UoT) dropped a datagram: the `reason` label of
/// `socksd_udp_dropped_total`, a fixed set.
enum DatagramDropReason: Int, CaseIterable, Sendable {
    /// From an address that is not the associated client, or a reply from a source the egress does not
    /// accept (not full cone).
    case stranger
    /// A SOCKS UDP request header that does not parse, or a datagram (UDP or UoT) addressed to a name that
    /// is no host name (`HostName`).
    case malformed
    /// A fragment (fragmentation is not supported).
    case fragmented
    /// The destination rules deny its destination.
    case denied
    /// Its destination is a name, and too many lookups were in flight.
    case lookupLimit
    /// Sending it failed: the name did not resolve, the network refused it, the client's socket failed.
    case undeliverable
    /// A reply that came before the client's first datagram, so there is nowhere to send it.
    case clientUnknown
    /// A reply that cannot be written as a UoT frame.
    case unencodable
    /// Over its user's bandwidth cap (`UserPolicy.bandwidthLimit`).
    case bandwidth
    /// From one of this server's own UDP sockets (another relay's): never a client's datagram nor a reply
    /// (`OwnAddresses`).
    case ownSocket
    /// A UoT stream to the upstream ended under the relay (the upstream closed it, or it failed): counted
    /// once per stream, for the datagrams that were on their way in it.
    case streamEnded

    var label: String {
        switch self {
        case .stranger: "stranger"
        case .malformed: "malformed"
        case .fragmented: "fragmented"
        case .denied: "denied"
        case .lookupLimit: "lookup-limit"
        case .undeliverable: "undeliverable"
        case .clientUnknown: "client-unknown"
        case .unencodable: "unencodable"
        case .bandwidth: "bandwidth"
        case .ownSocket: "own-socket"
        case .streamEnded: "stream-ended"
        }
    }
}
