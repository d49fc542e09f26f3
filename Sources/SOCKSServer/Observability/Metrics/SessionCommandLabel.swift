import SOCKSProtocol

/// The `command` label of the session metrics: what a session was asked to do, from a fixed set.
enum SessionCommandLabel: Int, CaseIterable, Sendable {
    case connect, bind, udpAssociate, uot
    /// No supported command: the handshake did not end in a request, or asked for an unknown command.
    case none

    var label: String {
        switch self {
        case .connect: "connect"
        case .bind: "bind"
        case .udpAssociate: "udp-associate"
        case .uot: "uot"
        case .none: "none"
        }
    }

    /// The label of the session `record` describes: a CONNECT to a UoT magic name is `uot`. The record's
    /// command and destination are set once, when the handshake ends, so every reading agrees.
    init(_ record: SessionRecord) {
        switch record.command {
        case .connect?:
            self = record.destination.flatMap(UoTVersion.init(destination:)) == nil ? .connect : .uot
        case .bind?: self = .bind
        case .udpAssociate?: self = .udpAssociate
        default: self = .none
        }
    }
}
