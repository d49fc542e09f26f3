import AsyncSockets
import SOCKSProtocol
import TestSupport

/// Sessions that access control turns away, written from the client's side for the tests that repeat them
/// against a daemon. Each checks that it was turned away the way the contract says (closed at accept,
/// reply 02, a failed login) and throws otherwise; each is bounded by `sessionTimeLimit`, so that a daemon
/// that stops answering fails the test instead of hanging it.
extension SessionScript {
    /// What became of a connection that may or may not have been admitted.
    enum Admission: Sendable {
        /// The daemon answered the greeting, with this reply to the request.
        case admitted(SOCKSTestClient, SOCKSReply)
        /// The daemon closed (or reset) the connection without answering the greeting.
        case closedAtAccept
    }

    /// Connects from `source`, greets, and asks for a CONNECT to `destination`: admitted with the reply, or
    /// closed at accept. Other failures (a deadline, an unexpected answer) are thrown.
    static func connectOrRefusal(through proxy: SocketAddress, to destination: SOCKSEndpoint, from source: IPAddress) async throws -> Admission {
        try await withDeadline(sessionTimeLimit) {
            let client = try await SOCKSTestClient.connect(to: proxy, from: source)
            do {
                // A refused connection may already be closed when the greeting goes out: the write can fail
                // with a reset, and then the read says the same.
                try? await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded() + SOCKSRequest(command: .connect, destination: destination).encoded())
                let selection: SOCKSMethodSelection
                do {
                    selection = try await client.receive(SOCKSMethodSelection.parse)
                } catch SOCKSTestClient.Failure.closedEarly {
                    client.close()
                    return .closedAtAccept
                } catch SocketError.disconnected {
                    client.close()
                    return .closedAtAccept
                }
                guard selection.method == .noAuthentication else { throw Failure("method selection \(selection.method)") }
                return .admitted(client, try await client.receive(SOCKSReply.parse))
            } catch {
                client.close()
                throw error
            }
        }
    }

    /// A connection from `source` that the daemon must close right after accept (`--allow-from`, the
    /// session limits, the rate): the greeting is never answered.
    static func closedAtAccept(by proxy: SocketAddress, from source: IPAddress) async throws {
        switch try await connectOrRefusal(through: proxy, to: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 9), from: source) {
        case .closedAtAccept:
            return
        case .admitted(let client, let reply):
            client.close()
            throw Failure("admitted from \(source) (reply \(reply.code)), where it should have been closed at accept")
        }
    }

    /// CONNECT to `echo` from `source`, one byte there and back, a half-close answered by the echo's: the
    /// session has ended on both sides when this returns. Used for the bystander whose service is measured.
    static func connectEcho(through proxy: SocketAddress, to echo: SocketAddress, from source: IPAddress) async throws {
        guard case .admitted(let client, let reply) = try await connectOrRefusal(through: proxy, to: SOCKSEndpoint(echo), from: source) else {
            throw Failure("\(source) was closed at accept")
        }
        defer { client.close() }
        try await withDeadline(sessionTimeLimit) {
            guard reply.code == .succeeded else { throw Failure("CONNECT reply \(reply.code)") }
            try await client.send([0x2A])
            guard try await client.receive(exactly: 1) == [0x2A] else { throw Failure("CONNECT echoed the wrong byte") }
            client.connection.shutdownWrite()
            guard try await client.receiveUntilEOF().isEmpty else { throw Failure("CONNECT: bytes after the echo") }
        }
    }

    /// A request the daemon answers with reply 02 and then closes: a destination the rules deny, or a
    /// request over `--max-sessions-per-user` or `--max-udp-associations`.
    static func refusedRequest(
        through proxy: SocketAddress, command: SOCKSCommand = .connect, to destination: SOCKSEndpoint,
        credentials: SOCKSCredentials? = nil, from source: IPAddress? = nil
    ) async throws {
        try await withDeadline(sessionTimeLimit) {
            let (client, reply) = try await SOCKSTestClient.open(proxy, command: command, to: destination, credentials: credentials, from: source)
            defer { client.close() }
            guard reply.code == .notAllowed else { throw Failure("\(command) \(destination): reply \(reply.code), not 02") }
            guard try await client.closesWithin(sessionTimeLimit) else { throw Failure("\(command) \(destination): still open after reply 02") }
        }
    }

    /// A login from `source` that fails (a wrong password, or any password from a throttled address): the
    /// RFC 1929 status is not 0, and the daemon closes the connection.
    static func failedLogin(through proxy: SocketAddress, as credentials: SOCKSCredentials, from source: IPAddress) async throws {
        try await withDeadline(sessionTimeLimit) {
            let client = try await SOCKSTestClient.connect(to: proxy, from: source)
            defer { client.close() }
            try await client.send(SOCKSGreeting(methods: [.usernamePassword]).encoded())
            guard try await client.receive(exactly: 2) == [0x05, 0x02] else { throw Failure("username/password was not selected") }
            try await client.send(credentials.encoded())
            let status = try await client.receive(exactly: 2)
            guard status[1] != 0 else { throw Failure("the login from \(source) succeeded") }
            guard try await client.closesWithin(sessionTimeLimit) else { throw Failure("still open after a failed login") }
        }
    }

    /// A UDP association that sends each of `denied` once (they must be dropped), and one datagram to its
    /// own relay socket when `toItsOwnRelay`, and then `payload` to `echo` (resent a few times, since a busy
    /// machine can overflow a receive buffer): the echo must come back, which shows that the association
    /// went on after the denied datagrams.
    static func udpEchoAfterDeniedDatagrams(
        through proxy: SocketAddress, denied: [SOCKSEndpoint], toItsOwnRelay: Bool = false, echo: SocketAddress
    ) async throws {
        try await withDeadline(sessionTimeLimit) {
            let association = try await UDPTestClient.associate(proxy)
            defer { association.close() }
            for destination in denied + (toItsOwnRelay ? [SOCKSEndpoint(association.relay)] : []) {
                try await association.send([0x44], to: destination)
            }
            let payload: [UInt8] = [0x55, 0x44, 0x50]
            for _ in 0..<4 {
                try await association.send(payload, to: SOCKSEndpoint(echo))
                if let reply = try await association.receive(within: .seconds(2)) {
                    guard reply.payload == payload, reply.header.endpoint == SOCKSEndpoint(echo) else {
                        throw Failure("UDP: \(reply.payload) from \(reply.header.endpoint), not the echo (did a denied datagram get through?)")
                    }
                    return
                }
            }
            throw Failure("UDP ASSOCIATE: no echo after 4 datagrams")
        }
    }
}

extension SessionScript {
    /// CONNECT to `echo` from `source` and one byte there and back, leaving the session open: the caller
    /// closes it. Throws if the daemon closes the connection at accept or answers anything but 00.
    static func openIdleConnect(through proxy: SocketAddress, to echo: SocketAddress, from source: IPAddress) async throws -> SOCKSTestClient {
        guard case .admitted(let client, let reply) = try await connectOrRefusal(through: proxy, to: SOCKSEndpoint(echo), from: source) else {
            throw Failure("\(source) was closed at accept")
        }
        do {
            try await withDeadline(sessionTimeLimit) { try await expectEchoedByte(client, after: reply) }
            return client
        } catch {
            client.close()
            throw error
        }
    }
}
