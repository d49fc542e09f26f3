/// Why a route (`--route TARGET=VIA`, a `routes` element) cannot be read.
public struct RouteSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    /// `'ROUTE' REASON`, the route quoted and escaped.
    init(_ route: String, _ reason: String) {
        description = "\(RuleSyntaxError.quoted(route)) \(reason)"
    }

    /// The target's own syntax error, as the rule parser words it.
    init(target error: RuleSyntaxError) {
        description = error.description
    }
}
