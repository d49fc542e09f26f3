import AsyncSockets

extension SOCKSServer {
    /// Everything a server needs to know, with safe defaults: loopback only, no authentication, 10-second
    /// handshake and connect deadlines.
    public struct Configuration: Sendable {
        /// The addresses to listen on. Default: `127.0.0.1:1080`. Port 0 picks a free port; read the real
        /// one from `SOCKSServer.localAddresses`. An address with a fixed port may be one listener only,
        /// here or in `proxyProtocolListeners` (`SOCKSServerError.duplicateListenAddress`); port 0 given
        /// twice is two listeners.
        public var listenAddresses: [SocketAddress] = [SocketAddress(ip: .ipv4Loopback, port: 1080)]

        /// Listeners behind a load balancer, whose connections start with a PROXY protocol header from a
        /// trusted balancer. Default: none. They may be the only listeners (`listenAddresses` empty).
        public var proxyProtocolListeners: [ProxyProtocolListener] = []

        /// The protocols a listener accepts, told apart by a connection's first byte, unless
        /// `listenerProtocols` names its address. Default: SOCKS5 and HTTP (`ClientProtocol.defaultSet`).
        /// SOCKS4 carries no password: with `users` set, a configuration that offers it anywhere is refused
        /// (`SOCKSServerError.socks4WithAuthentication`). Must not be empty.
        public var protocols: Set<ClientProtocol> = ClientProtocol.defaultSet

        /// The protocols of single listeners, by their address as configured (in `listenAddresses` or
        /// `proxyProtocolListeners`), in place of `protocols`. Default: none.
        public var listenerProtocols: [SocketAddress: Set<ClientProtocol>] = [:]

        /// The users who may log in. `nil` (the default) means no authentication; a database means every
        /// client must log in with RFC 1929 username/password.
        public var users: UserDatabase?

        /// GSS-API logins (RFC 1961, SOCKS5 method `01`): Kerberos keys from a keytab, the client's principal
        /// as the session's user. `nil` (the default) offers none. Like `users`, it makes a login required:
        /// a SOCKS5 client must log in (by GSS-API, or by password when there are users as well), an HTTP
        /// client by password (so without users, none can), and SOCKS4 cannot be offered.
        public var gssapi: GSSAPIAcceptor?

        /// Whether every client must log in: there are users, or GSS-API logins.
        package var requiresLogin: Bool { users != nil || gssapi != nil }

        /// How long a client has to finish greeting, login and request. Default: 10 s.
        public var handshakeTimeout: Duration = .seconds(10)

        /// Resolves domain destinations (CONNECT, UDP, a BIND's expected peer). Default: the system resolver
        /// (`getaddrinfo`, on threads of its own).
        public var resolver: any HostResolver = NameResolver.shared

        /// How long resolving and connecting to a CONNECT target may take, and how long a UDP or UoT datagram
        /// may wait for its destination's name to resolve (it is dropped after that). Default: 10 s.
        public var connectTimeout: Duration = .seconds(10)

        /// How long a relay may go without a byte in either direction before it is closed. Default: `nil`,
        /// no limit.
        public var idleTimeout: Duration?

        /// How long a UDP association may go without a datagram in either direction before it ends (and its
        /// control connection is closed). Default: 300 s.
        public var udpTimeout: Duration = .seconds(300)

        /// The address put in a UDP ASSOCIATE reply's BND.ADDR instead of the relay socket's own, for a
        /// server behind NAT. Default: `nil`, the local address of the client's control connection.
        public var udpAdvertiseAddress: IPAddress?

        /// Which remotes may send datagrams back to a UDP client. `false` (the default): only remotes the
        /// association has sent to ("restricted cone", what most clients expect and the safer choice).
        /// `true`: any remote that learns the relay's port ("full cone"), for peer-to-peer protocols.
        public var udpFullCone = false

        /// How long a BIND waits for the remote peer to connect. Default: 60 s.
        public var bindTimeout: Duration = .seconds(60)

        /// A SOCKS5 server to forward everything through: CONNECT and BIND use the upstream's, and UDP
        /// (from UDP ASSOCIATE and UoT clients) travels by the upstream's `udpTransport`. Default: `nil`,
        /// connect directly.
        public var upstream: UpstreamProxy?

        /// Named upstreams, for `routes` (and users' routes) to send requests through; each forwards like
        /// `upstream`. `direct` and `default` (the name logs and metrics give `upstream`) are not names.
        /// Default: none.
        public var upstreams: [String: UpstreamProxy] = [:]

        /// Routes by destination, tried in order, first match wins: direct, or through named upstreams
        /// (failing over, or round-robin). A request no route matches uses `upstream` if there is one, else
        /// goes direct. Checked after `destinationRules`, which routing never bypasses; every name a route
        /// uses must be in `upstreams` (or be `default` with `upstream` set), else `SOCKSServer.init` throws
        /// `SOCKSServerError.unknownUpstream`. Default: none.
        public var routes: [Route] = []

        /// Consecutive failures (unreachable, or no complete greeting and login) after which an upstream is
        /// down: routes skip it and it is probed until it answers. Default: 3.
        public var upstreamFailureLimit = 3

        /// How often a down upstream is probed (a greeting, and its login if it has one). Default: 5 s.
        public var upstreamProbeInterval: Duration = .seconds(5)

        /// The largest UoT frame payload accepted from a client; larger frames close that stream (widely
        /// deployed readers use 16 KiB; the wire allows 65535). Default: 65535.
        public var uotMaximumPayload = 65535

        /// Lets the server listen on an address that is not loopback with no users and no `allowFrom`: an
        /// open proxy that anyone who reaches it may use. Default: `false`, and `SOCKSServer.init` throws
        /// `SOCKSServerError.openProxy` for such a configuration.
        public var allowOpenProxy = false

        /// The client networks that may connect; others are closed right after accept. Default: empty,
        /// every client (refused by `SOCKSServer.init` on a public address unless there are users or
        /// `allowOpenProxy`).
        public var allowFrom: [IPNetwork] = []

        /// Where clients may go: `--allow-to` / `--deny-to` rules, first match wins, no match allows.
        /// Checked against the request, and for direct egress against every address a name resolves to;
        /// applied to CONNECT, BIND, every UDP datagram and UoT frame. A denied request gets reply 02, a
        /// denied datagram is dropped. Default: no rules. Connecting to this server's own listening
        /// addresses (its listeners and its `MetricsEndpoint`s) and sending to its own UDP relay sockets
        /// are always denied.
        public var destinationRules = DestinationRules([])

        /// The most sessions open at once; past it, new connections are closed right after accept.
        /// Default: `nil`, no limit.
        public var maxSessions: Int?

        /// The most sessions one client IP may have open; past it, its new connections are closed right
        /// after accept. Default: `nil`, no limit.
        public var maxSessionsPerIP: Int?

        /// The most sessions one user may have open; past it, a request gets reply 02. Default: `nil`.
        public var maxSessionsPerUser: Int?

        /// Settings of single users, by name: their own destination rules (tried before
        /// `destinationRules`), session limit and bandwidth cap. Default: none.
        public var userPolicies: [String: UserPolicy] = [:]

        /// The most UDP associations open at once, UDP ASSOCIATE sessions and UoT streams together; past
        /// it, a request for one gets reply 02. Default: `nil`, no limit.
        public var maxUDPAssociations: Int?

        /// New sessions one client IP may open (a token bucket: `count` per interval, in bursts of up to
        /// `count`); past it, its connections are closed right after accept. Default: `nil`, no limit.
        public var newSessionsPerIP: SessionRate?

        /// Failed logins from one IP within a minute before its logins are refused, unchecked, for a
        /// backoff (`loginBackoff`, doubling up to `loginBackoffLimit`). 0 turns throttling off. Default: 10.
        public var loginFailureLimit = 10

        /// The first backoff of a throttled IP. Default: 30 s.
        public var loginBackoff: Duration = .seconds(30)

        /// The longest backoff, however often an IP earns one. Default: 5 minutes.
        public var loginBackoffLimit: Duration = .seconds(300)

        /// After `shutdown()`, how long open sessions may run before they are cancelled. Default: 5 s.
        public var shutdownGracePeriod: Duration = .seconds(5)

        /// Where log lines go. Default: standard error at `info`, one access-log line per session, through
        /// `LogWriter.standardError`, so a stalled standard error never holds up a session.
        public var logger: SOCKSLogger = .standardError(level: .info)

        public init() {}
    }
}
