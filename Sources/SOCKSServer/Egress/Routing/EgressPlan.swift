/// Where one request goes, as the router decided it: what the egress stage then tries.
enum EgressPlan: Sendable {
    /// This server connects itself.
    case direct
    /// Through these upstreams, each up, in the order to try them (the next when one cannot be reached).
    case upstreams([RoutedUpstream])
    /// The route's upstreams, every one of them down: the request gets reply 03.
    case allDown([RoutedUpstream])
}
