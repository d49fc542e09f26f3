import AsyncSockets
import SOCKSProtocol

/// A scripted UoT server: a bare SOCKS5 server (no login) that accepts CONNECTs to a UoT magic name and hands
/// each stream to the test, positioned at its first UoT byte. The test reads exactly what the client wrote
/// and answers, or closes, as the scenario needs.
package final class RawUoTServer: Sendable {
    package let listener: TCPListener

    package init() throws {
        listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
    }

    package var address: SocketAddress { listener.localAddress }

    /// Accepts the next client and completes its handshake: method selection (no authentication), then a
    /// success reply to its CONNECT, which must name a UoT magic name.
    ///
    /// - Returns: the connection, and the request the client sent.
    package func acceptStream() async throws -> (connection: TCPConnection, request: SOCKSRequest) {
        let connection = try await listener.accept()
        do {
            let greeting = try await Self.read(exactly: 2, from: connection)
            _ = try await Self.read(exactly: Int(greeting[1]), from: connection)
            try await connection.write([0x05, 0x00])
            var bytes = try await Self.read(exactly: 5, from: connection)
            switch bytes[3] {
            case 0x01: bytes += try await Self.read(exactly: 4 - 1 + 2, from: connection)
            case 0x04: bytes += try await Self.read(exactly: 16 - 1 + 2, from: connection)
            default: bytes += try await Self.read(exactly: Int(bytes[4]) + 2, from: connection)
            }
            var reader = ByteReader(bytes[...])
            guard let request = try SOCKSRequest.parse(from: &reader),
                  case .domain(let name) = request.destination.address, UoTVersion(magicName: name) != nil
            else { throw SOCKSTestClient.Failure.unexpected(bytes) }
            try await connection.write(SOCKSReply(code: .succeeded, bound: SOCKSEndpoint(connection.localAddress)).encoded())
            return (connection, request)
        } catch {
            connection.close()
            throw error
        }
    }

    /// Reads exactly `count` bytes, never more, within `timeout` (a client that writes less fails the test
    /// instead of hanging it).
    package static func read(exactly count: Int, from connection: TCPConnection, within timeout: Duration = .seconds(30)) async throws -> [UInt8] {
        try await withDeadline(timeout) {
            var result: [UInt8] = []
            while result.count < count {
                var buffer = [UInt8](repeating: 0, count: count - result.count)
                let read = try await connection.read(into: &buffer)
                guard read > 0 else { throw SOCKSTestClient.Failure.closedEarly }
                result += buffer[0..<read]
            }
            return result
        }
    }

    /// Reads one v2 request header, byte by byte as it arrives.
    package static func readHeader(from connection: TCPConnection) async throws -> UoTRequestHeader {
        var bytes = try await read(exactly: 3, from: connection)
        switch bytes[1] {
        case 0x01: bytes += try await read(exactly: 4 - 1 + 2, from: connection)
        case 0x04: bytes += try await read(exactly: 16 - 1 + 2, from: connection)
        default: bytes += try await read(exactly: Int(bytes[2]) + 2, from: connection)
        }
        var reader = ByteReader(bytes[...])
        guard let header = try UoTRequestHeader.parse(from: &reader), reader.remaining == 0 else {
            throw SOCKSTestClient.Failure.unexpected(bytes)
        }
        return header
    }

    /// Reads one addressed frame (v2 non-connect, v1).
    package static func readFrame(from connection: TCPConnection) async throws -> UoTFrame {
        var bytes = try await read(exactly: 2, from: connection)
        switch bytes[0] {
        case 0x00: bytes += try await read(exactly: 4 - 1 + 2 + 2, from: connection)
        case 0x01: bytes += try await read(exactly: 16 - 1 + 2 + 2, from: connection)
        default: bytes += try await read(exactly: Int(bytes[1]) + 2 + 2, from: connection)
        }
        let length = Int(bytes[bytes.count - 2]) << 8 | Int(bytes[bytes.count - 1])
        bytes += try await read(exactly: length, from: connection)
        var reader = ByteReader(bytes[...])
        guard let frame = try UoTFrame.parse(from: &reader, framing: .addressed), reader.remaining == 0 else {
            throw SOCKSTestClient.Failure.unexpected(bytes)
        }
        return frame
    }

    package func close() {
        listener.close()
    }
}
