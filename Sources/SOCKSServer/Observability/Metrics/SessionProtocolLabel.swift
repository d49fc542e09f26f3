/// The `protocol` label of `socksd_protocol_sessions_total`: what a session's first byte chose.
enum SessionProtocolLabel: Int, CaseIterable, Sendable {
    case socks5, socks4, http
    /// No protocol: the client closed before its first byte, or the byte starts none socksd speaks.
    case none

    var label: String {
        switch self {
        case .socks5: "socks5"
        case .socks4: "socks4"
        case .http: "http"
        case .none: "none"
        }
    }

    init(_ chosen: ClientProtocol?) {
        switch chosen {
        case .socks5?: self = .socks5
        case .socks4?: self = .socks4
        case .http?: self = .http
        case nil: self = .none
        }
    }
}
