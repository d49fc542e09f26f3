import SOCKSProtocol

/// What a front-end turns a client's bytes into, whichever protocol it spoke: the one value the stages after
/// it (login, policy, egress, the command's relay) work from.
struct ClientRequest: Sendable {
    /// The command and destination. An HTTP request is a CONNECT to its origin here, which is what rules,
    /// limits and metrics see.
    var request: SOCKSRequest
    /// What the client sent after its request, before it saw a reply: the relay sends it first.
    var earlyData: [UInt8]
    /// The user a login named, if the front-end's protocol carried one and it was accepted.
    var user: String?
    /// For an HTTP request to forward (absolute form), the request itself.
    var forward: HTTPForwardStart? = nil
    /// After a GSS-API login: the level granted, and the protection of everything that follows.
    var gssapi: GSSAPISession? = nil
}
