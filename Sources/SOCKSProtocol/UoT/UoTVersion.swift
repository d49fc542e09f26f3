/// The two versions of sing-box's UDP-over-TCP protocol, and the magic CONNECT names that select them.
public enum UoTVersion: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// Legacy: no request header; every frame carries its address.
    case v1 = 1
    /// Current: a request header, then frames in connect or non-connect (addressed) mode.
    case v2 = 2

    /// The domain a client CONNECTs to (ATYP 03, any port) to open a UoT stream of this version.
    package var magicName: String {
        switch self {
        case .v1: "sp.udp-over-tcp.arpa"
        case .v2: "sp.v2.udp-over-tcp.arpa"
        }
    }

    /// The version a CONNECT destination selects: an exact, case-sensitive match, no trailing dot.
    package init?(magicName: String) {
        switch magicName {
        case UoTVersion.v1.magicName: self = .v1
        case UoTVersion.v2.magicName: self = .v2
        default: return nil
        }
    }

    /// The version a CONNECT destination selects, if it is a UoT magic name (the port is ignored).
    package init?(destination: SOCKSEndpoint) {
        guard case .domain(let name) = destination.address else { return nil }
        self.init(magicName: name)
    }

    public var description: String { "uot-v\(rawValue)" }
}

/// How the frames of a UoT stream are laid out.
package enum UoTFraming: Hashable, Sendable {
    /// `LENGTH PAYLOAD`: every datagram goes to (or comes from) the header's destination. v2 connect mode.
    case connect
    /// `FAM ADDR PORT LENGTH PAYLOAD`, per-packet address encoding. v2 non-connect mode, and all of v1.
    case addressed
}

/// Why bytes on a UoT stream are not valid UoT.
public enum UoTProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A per-packet address family byte other than 0x00, 0x01, 0x02.
    case unknownAddressFamily(UInt8)
    /// A request-header ATYP other than 0x01, 0x03, 0x04.
    case unknownAddressType(UInt8)
    /// A domain of length 0 (the reference reader desyncs on it), or one that is no host name (`HostName`)
    /// where a frame cannot be skipped (the v2 header, `UoTFrame.parse`).
    case invalidDomain
    /// A payload over 65535 bytes cannot be framed (the reference writer would wrap the length).
    case payloadTooLarge(Int)
    /// A frame longer than the reader accepts.
    case frameTooLarge(Int)
    /// An addressed frame was to be written without an address.
    case missingAddress

    public var description: String {
        switch self {
        case .unknownAddressFamily(let family): "unknown address family 0x\(String(family, radix: 16))"
        case .unknownAddressType(let type): "unknown address type 0x\(String(type, radix: 16)) in the request header"
        case .invalidDomain: "empty or invalid domain"
        case .payloadTooLarge(let size): "payload of \(size) bytes exceeds 65535"
        case .frameTooLarge(let size): "frame of \(size) bytes exceeds the reader's limit"
        case .missingAddress: "an addressed frame needs an address"
        }
    }
}
