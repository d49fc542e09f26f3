import SOCKSProtocol

/// The routing stage of one configuration: the user's routes, then the server's, then the default upstream
/// (if there is one) or direct. Asked once per request (per datagram for UDP), after the destination rules
/// allowed it; it never bypasses them.
///
/// A class, not a value: a session's async frames refer to it instead of holding a copy (as a struct of
/// five tables it made `makeDatagramEgress`'s frame 992 bytes, past the task allocator's slab size).
final class Router: Sendable {
    /// The upstreams by name, `default` among them when there is an unnamed one.
    let upstreams: [String: RoutedUpstream]
    private let routes: RoutedTable
    private let userRoutes: [String: RoutedTable]
    private let defaultUpstream: RoutedUpstream?

    /// The name logs and metrics give the unnamed upstream.
    static let defaultName = "default"

    /// A route table with a cursor for each round-robin route.
    private struct RoutedTable: Sendable {
        let table: RouteTable
        let cursors: [RoundRobinCursor?]

        init(_ routes: [Route]) {
            table = RouteTable(routes)
            cursors = routes.map { $0.strategy == .roundRobin ? RoundRobinCursor() : nil }
        }
    }

    init(configuration: SOCKSServer.Configuration, upstreams: [String: RoutedUpstream]) {
        self.upstreams = upstreams
        routes = RoutedTable(configuration.routes)
        userRoutes = configuration.userPolicies.filter { !$0.value.routes.isEmpty }.mapValues { RoutedTable($0.routes) }
        defaultUpstream = configuration.upstream == nil ? nil : upstreams[Self.defaultName]
    }

    /// Every upstream a configuration names, by name: the unnamed one as `default`, and the named ones.
    static func proxies(of configuration: SOCKSServer.Configuration) -> [String: UpstreamProxy] {
        var proxies = configuration.upstreams
        if let upstream = configuration.upstream { proxies[defaultName] = upstream }
        return proxies
    }

    /// Where a request of `user` (nil without a login) to `destination` goes.
    ///
    /// - Parameter takingTurn: whether a round-robin route gives this request the next turn (and its
    ///   upstreams in that turn's order); without, they come in the order written (a datagram of an
    ///   association that may already hold an egress through one of them: only opening one takes a turn).
    func plan(for destination: SOCKSEndpoint, user: String?, takingTurn: Bool = true) -> EgressPlan {
        if let user, let table = userRoutes[user], let plan = plan(destination, in: table, takingTurn: takingTurn) { return plan }
        return plan(destination, in: routes, takingTurn: takingTurn) ?? defaultPlan
    }

    /// Where a request goes that no route matches, or that names no destination to route by (a UDP
    /// association when there are no routes: its datagrams then share one egress): the default upstream if
    /// there is one, else direct.
    var defaultPlan: EgressPlan {
        guard let defaultUpstream else { return .direct }
        return defaultUpstream.isUp ? .upstreams([defaultUpstream]) : .allDown([defaultUpstream])
    }

    /// Whether requests of `user` (nil without a login) are routed by their destinations: whether there
    /// are routes, the server's or the user's. Without any, every request takes `defaultPlan`.
    func hasRoutes(for user: String?) -> Bool {
        !routes.table.isEmpty || (user.map { userRoutes[$0] != nil } ?? false)
    }

    /// Whether every request goes direct whatever its destination (no upstream is configured).
    var isAlwaysDirect: Bool { upstreams.isEmpty }

    private func plan(_ destination: SOCKSEndpoint, in routed: RoutedTable, takingTurn: Bool) -> EgressPlan? {
        guard let (index, route) = routed.table.route(for: destination) else { return nil }
        switch route.via {
        case .direct:
            return .direct
        case .upstreams(let names):
            let listed = names.compactMap { upstreams[$0] }
            let healthy = listed.filter(\.isUp)
            guard !healthy.isEmpty else { return .allDown(listed) }
            guard takingTurn, let cursor = routed.cursors[index], healthy.count > 1 else { return .upstreams(healthy) }
            let first = (cursor.take() & Int.max) % healthy.count
            return .upstreams(Array(healthy[first...] + healthy[..<first]))
        }
    }
}

extension Router {
    /// Checks that every route names configured upstreams and that no upstream takes a reserved name.
    static func validate(_ configuration: SOCKSServer.Configuration) throws(SOCKSServerError) {
        for reserved in ["direct", defaultName] where configuration.upstreams[reserved] != nil {
            throw SOCKSServerError.reservedUpstreamName(reserved)
        }
        let known = proxies(of: configuration)
        let all = configuration.routes + configuration.userPolicies.sorted { $0.key < $1.key }.flatMap(\.value.routes)
        for route in all {
            if let unknown = route.upstreamNames.first(where: { known[$0] == nil }) {
                throw SOCKSServerError.unknownUpstream(route: route.description, name: unknown)
            }
        }
    }
}
