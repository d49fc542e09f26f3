import AsyncSockets
import SOCKSProtocol

/// A raw SOCKS5 client for tests: it speaks the protocol byte by byte over a real loopback connection, so
/// tests can send anything, valid or not, and read exactly what the server answers.
package struct SOCKSTestClient: Sendable {
    package let connection: TCPConnection

    /// What went wrong, from the client's side.
    package enum Failure: Error, Equatable {
        case closedEarly
        case unexpected([UInt8])
    }

    /// Connects to `server`, from `source` when given (127.0.0.2, 127.0.0.3… act as distinct clients).
    package static func connect(to server: SocketAddress, from source: IPAddress? = nil) async throws -> SOCKSTestClient {
        SOCKSTestClient(connection: try await TCPConnection.connect(to: server, from: source.map { SocketAddress(ip: $0, port: 0) }))
    }

    /// Greets (and logs in, when `credentials` are given) and sends a request; returns the server's reply.
    package static func open(
        _ server: SocketAddress, command: SOCKSCommand = .connect, to destination: SOCKSEndpoint,
        credentials: SOCKSCredentials? = nil, from source: IPAddress? = nil
    ) async throws -> (client: SOCKSTestClient, reply: SOCKSReply) {
        let client = try await connect(to: server, from: source)
        let method: SOCKSAuthenticationMethod = credentials == nil ? .noAuthentication : .usernamePassword
        try await client.send(SOCKSGreeting(methods: [method]).encoded())
        let selection = try await client.receive(SOCKSMethodSelection.parse)
        guard selection.method == method else { throw Failure.unexpected(selection.encoded()) }
        if let credentials {
            try await client.send(credentials.encoded())
            let status = try await client.receive(SOCKSAuthenticationStatus.parse)
            guard status.succeeded else { throw Failure.unexpected(status.encoded()) }
        }
        try await client.send(SOCKSRequest(command: command, destination: destination).encoded())
        return (client, try await client.receive(SOCKSReply.parse))
    }

    package func send(_ bytes: [UInt8]) async throws {
        try await connection.write(bytes)
    }

    /// Reads exactly one message with `parser`, a byte at a time so no byte after it is consumed.
    package func receive<Message>(_ parser: (inout ByteReader) throws(SOCKSProtocolError) -> Message?) async throws -> Message {
        var bytes: [UInt8] = []
        var one = [UInt8](repeating: 0, count: 1)
        while true {
            var reader = ByteReader(bytes[...])
            if let message = try parser(&reader) { return message }
            guard try await connection.read(into: &one) == 1 else { throw Failure.closedEarly }
            bytes.append(one[0])
        }
    }

    /// Reads exactly `count` bytes, never more: what follows stays for the next read.
    package func receive(exactly count: Int) async throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            var buffer = [UInt8](repeating: 0, count: min(count - result.count, 65536))
            let read = try await connection.read(into: &buffer)
            guard read > 0 else { throw Failure.closedEarly }
            result.append(contentsOf: buffer[0..<read])
        }
        return result
    }

    /// Reads until EOF and returns everything.
    package func receiveUntilEOF() async throws -> [UInt8] {
        var result: [UInt8] = []
        for try await chunk in connection.chunks() { result.append(contentsOf: chunk) }
        return result
    }

    /// Whether the server closes the connection (EOF or reset) within `timeout`, without sending more.
    package func closesWithin(_ timeout: Duration) async throws -> Bool {
        do {
            return try await withDeadline(timeout) { [connection] in
                var buffer = [UInt8](repeating: 0, count: 1024)
                return try await connection.read(into: &buffer) == 0
            }
        } catch SocketError.timedOut {
            return false
        } catch SocketError.disconnected {
            return true
        }
    }

    package func close() {
        connection.close()
    }
}

