import AsyncSockets

/// The access policy one session works under, with the resolvers that apply it: the server's, or, for a
/// user with rules of its own, the user's rules before the server's. The same rules come in two forms, as
/// the route decides: for direct egress (resolved addresses and this server's own addresses checked here)
/// and for egress through an upstream (which resolves: only the request is checked).
final class SessionAccess: Sendable {
    /// The policy for direct egress.
    let policy: AccessPolicy
    /// The policy for datagrams and UoT frames sent directly (its own UDP sockets in place of its listeners:
    /// UDP cannot reach a TCP listener).
    let datagramPolicy: AccessPolicy
    /// The policy for requests that go through an upstream.
    let upstreamPolicy: AccessPolicy
    /// The policy for datagrams that go through an upstream.
    let upstreamDatagramPolicy: AccessPolicy
    /// Resolves destinations this server connects to itself: the configured resolver, with the addresses
    /// the policy denies removed.
    let destinationResolver: any HostResolver
    /// The same for datagram destinations, under `datagramPolicy`.
    let datagramResolver: any HostResolver

    init(rules: DestinationRules, userRules: DestinationRules = DestinationRules([]), ownAddresses: OwnAddresses, resolver: any HostResolver) {
        policy = AccessPolicy(rules: rules, userRules: userRules, ownAddresses: ownAddresses, direct: true)
        upstreamPolicy = AccessPolicy(rules: rules, userRules: userRules, ownAddresses: ownAddresses, direct: false)
        datagramPolicy = policy.forDatagrams
        upstreamDatagramPolicy = upstreamPolicy.forDatagrams
        destinationResolver = policy.resolver(over: resolver)
        datagramResolver = datagramPolicy.resolver(over: resolver)
    }

    /// The policy for a request that leaves by `plan`.
    func policy(for plan: EgressPlan) -> AccessPolicy {
        switch plan {
        case .direct: policy
        case .upstreams, .allDown: upstreamPolicy
        }
    }
}
