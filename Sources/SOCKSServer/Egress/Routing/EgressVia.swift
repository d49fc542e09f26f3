/// Which way a session's request left: the access line's `via=` field and the metrics' `upstream` label.
enum EgressVia: Sendable, Hashable, CustomStringConvertible {
    case direct
    /// Through the upstream of this name (`default` for the unnamed one).
    case upstream(String)

    var description: String {
        switch self {
        case .direct: "direct"
        case .upstream(let name): name
        }
    }
}
