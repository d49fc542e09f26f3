import AsyncSockets
import SOCKSProtocol

/// An async SOCKS5 client (RFC 1928, RFC 1929): CONNECT, BIND, UDP ASSOCIATE, and sing-box's UDP over TCP.
///
/// ```swift
/// let proxy = SOCKSClient(host: "127.0.0.1", port: 1080, credentials: SOCKSCredentials(username: "u", password: "p"))
/// let tunnel = try await proxy.connect(to: SOCKSEndpoint(address: .domain("example.com"), port: 80))
/// try await tunnel.connection.write(Array("GET / HTTP/1.0\r\n\r\n".utf8))
/// ```
///
/// Each call opens its own connection to the proxy; the value itself holds no connection and is cheap to copy.
public struct SOCKSClient: Sendable {
    /// The proxy's host (a literal address or a name) and port.
    public var host: String
    public var port: UInt16
    /// Sent when the proxy asks for RFC 1929 username/password.
    public var credentials: SOCKSCredentials?
    /// Resolves the proxy's host name.
    public var resolver: any HostResolver
    /// How long reaching the proxy and finishing its handshake may take (the request itself has no
    /// deadline: a proxy may take its own connect timeout to answer).
    public var handshakeTimeout: Duration

    public init(
        host: String, port: UInt16, credentials: SOCKSCredentials? = nil,
        resolver: any HostResolver = NameResolver.shared, handshakeTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.credentials = credentials
        self.resolver = resolver
        self.handshakeTimeout = handshakeTimeout
    }

    /// A TCP stream through the proxy to `destination`.
    ///
    /// - Throws: `SOCKSClientError.requestFailed` with the proxy's reply code when it could not connect.
    public func connect(to destination: SOCKSEndpoint) async throws -> SOCKSTunnel {
        let (connection, bound) = try await openRequest(.connect, destination)
        return SOCKSTunnel(connection: connection, bound: bound)
    }

    /// Asks the proxy to listen for one incoming connection from `expectedPeer` (BIND).
    public func bind(expecting expectedPeer: SOCKSEndpoint) async throws -> SOCKSBinding {
        let (connection, listening) = try await openRequest(.bind, expectedPeer)
        return SOCKSBinding(connection: connection, listeningAddress: listening)
    }

    /// Reaches the proxy and completes its method selection and, if asked, the login (within
    /// `handshakeTimeout`), then hangs up: whether the proxy is there and accepts this client.
    package func probe() async throws {
        try await openControl().close()
    }

    /// Opens a control connection and sends one request: the connection and the reply's BND, or the
    /// connection closed and the error.
    func openRequest(_ command: SOCKSCommand, _ destination: SOCKSEndpoint) async throws -> (TCPConnection, SOCKSEndpoint) {
        let connection = try await openControl()
        do {
            return (connection, try await request(command, destination, on: connection))
        } catch {
            connection.close()
            throw error
        }
    }

    /// Opens the control connection and completes method selection and, if asked, the login.
    func openControl() async throws -> TCPConnection {
        let (host, port, resolver, credentials) = (self.host, self.port, self.resolver, self.credentials)
        return try await withDeadline(handshakeTimeout) {
            let connection = try await TCPConnection.connect(toHost: host, port: port, resolver: resolver)
            do {
                let offered: [SOCKSAuthenticationMethod] = credentials == nil ? [.noAuthentication] : [.noAuthentication, .usernamePassword]
                try await connection.write(SOCKSGreeting(methods: offered).encoded())
                let selection = try await connection.readExactly(2)
                guard selection[0] == 0x05 else { throw SOCKSClientError.protocolViolation("method selection version \(selection[0])") }
                switch SOCKSAuthenticationMethod(rawValue: selection[1]) {
                case .noAuthentication:
                    break
                case .usernamePassword:
                    guard let credentials else { throw SOCKSClientError.credentialsRequired }
                    try await connection.write(credentials.encoded())
                    let status = try await connection.readExactly(2)
                    guard status[1] == 0 else { throw SOCKSClientError.authenticationFailed(status: status[1]) }
                case .noAcceptableMethods:
                    throw SOCKSClientError.noAcceptableMethod
                default:
                    throw SOCKSClientError.protocolViolation("the proxy chose method \(selection[1]), which was not offered")
                }
                return connection
            } catch {
                connection.close()
                throw error
            }
        }
    }

    /// Sends a request and reads its reply.
    ///
    /// - Returns: the reply's BND address.
    func request(_ command: SOCKSCommand, _ destination: SOCKSEndpoint, on connection: TCPConnection) async throws -> SOCKSEndpoint {
        try await connection.write(SOCKSRequest(command: command, destination: destination).encoded())
        return try await Self.readReply(from: connection)
    }

    /// Reads exactly one reply, not a byte more (data may follow it), and checks its code.
    static func readReply(from connection: TCPConnection) async throws -> SOCKSEndpoint {
        var bytes = try await connection.readExactly(5)
        let remaining: Int
        switch SOCKSAddressType(rawValue: bytes[3]) {
        case .ipv4: remaining = 4 - 1 + 2
        case .ipv6: remaining = 16 - 1 + 2
        case .domain: remaining = Int(bytes[4]) + 2
        default: throw SOCKSClientError.protocolViolation("reply address type \(bytes[3])")
        }
        bytes += try await connection.readExactly(remaining)
        var reader = ByteReader(bytes[...])
        guard let reply = try SOCKSReply.parse(from: &reader) else { throw SOCKSClientError.protocolViolation("short reply") }
        guard reply.code == .succeeded else { throw SOCKSClientError.requestFailed(reply.code) }
        return reply.bound
    }
}

/// A TCP stream through a proxy.
public struct SOCKSTunnel: Sendable {
    /// The connection: after the reply, its bytes are the destination's.
    public let connection: TCPConnection
    /// The reply's BND: the proxy's outbound address toward the destination.
    public let bound: SOCKSEndpoint
}

/// A pending BIND: the proxy listens at `listeningAddress` for one peer.
public struct SOCKSBinding: Sendable {
    public let connection: TCPConnection
    /// Where the peer should connect (the first reply's BND).
    public let listeningAddress: SOCKSEndpoint

    /// Waits for the second reply: the peer's address. After it, `connection` carries the peer's bytes.
    public func waitForPeer() async throws -> SOCKSEndpoint {
        try await SOCKSClient.readReply(from: connection)
    }
}

extension TCPConnection {
    /// Reads exactly `count` bytes.
    ///
    /// - Throws: `SOCKSClientError.closedByProxy` at an early EOF.
    func readExactly(_ count: Int) async throws -> [UInt8] {
        // Never asks the kernel for more than is still missing, so bytes after the message stay unread.
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            var slice = [UInt8](repeating: 0, count: count - result.count)
            let read = try await self.read(into: &slice)
            guard read > 0 else { throw SOCKSClientError.closedByProxy }
            result += slice[0..<read]
        }
        return result
    }
}
