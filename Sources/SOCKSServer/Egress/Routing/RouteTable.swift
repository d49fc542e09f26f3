import AsyncSockets
import SOCKSProtocol

/// Routes in order, matched by the rule engine: the routes' targets are a `DestinationRules` list, so a
/// lookup costs what a rule lookup does (indexed, a thousand routes about as much as ten).
///
/// A destination given as a name is matched by its name only (domain and `*` routes can match it); one
/// given as an address (or a name that is an address in disguise, `127.1`) by its address.
struct RouteTable: Sendable, Hashable {
    let routes: [Route]
    private let targets: DestinationRules

    init(_ routes: [Route]) {
        self.routes = routes
        targets = DestinationRules(routes.map(\.target))
    }

    var isEmpty: Bool { routes.isEmpty }

    /// The first route that covers `destination`, with its index; nil when none does.
    func route(for destination: SOCKSEndpoint) -> (index: Int, route: Route)? {
        guard !routes.isEmpty else { return nil }
        let match: (index: Int, rule: DestinationRule)?
        switch destination.address {
        case .ipv4(let bytes), .ipv6(let bytes):
            match = targets.firstMatch(name: nil, address: IPAddress(bytes: bytes), port: destination.port)
        case .domain(let name):
            if let address = AccessPolicy.numericAddress(name) {
                match = targets.firstMatch(name: nil, address: address, port: destination.port)
            } else {
                match = targets.firstMatch(name: name, address: nil, port: destination.port)
            }
        }
        return match.map { ($0.index, routes[$0.index]) }
    }
}
