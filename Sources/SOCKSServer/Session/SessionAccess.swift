import AsyncSockets

/// The access policy one session works under, with the resolvers that apply it: the server's, or, for a
/// user with rules of its own, the user's rules before the server's.
final class SessionAccess: Sendable {
    let policy: AccessPolicy
    /// The policy for datagrams and UoT frames (its own UDP sockets in place of its listeners: UDP cannot
    /// reach a TCP listener).
    let datagramPolicy: AccessPolicy
    /// Resolves destinations this server connects to itself: the configured resolver, with the addresses
    /// the policy denies removed.
    let destinationResolver: any HostResolver
    /// The same for datagram destinations, under `datagramPolicy`.
    let datagramResolver: any HostResolver

    init(policy: AccessPolicy, resolver: any HostResolver) {
        self.policy = policy
        datagramPolicy = policy.forDatagrams
        destinationResolver = policy.resolver(over: resolver)
        datagramResolver = datagramPolicy.resolver(over: resolver)
    }
}
