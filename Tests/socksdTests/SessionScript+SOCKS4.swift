import AsyncSockets
import SOCKSProtocol
import TestSupport

extension SessionScript {
    /// A SOCKS4 CONNECT to `echo` (the 4a form with `localhost` when `byName`), one byte there and back, a
    /// half-close answered by the echo's.
    static func socks4ConnectEcho(through proxy: SocketAddress, to echo: SocketAddress, byName: Bool = false) async throws {
        try await withDeadline(sessionTimeLimit) {
            let client = try await SOCKSTestClient.connect(to: proxy)
            defer { client.close() }
            let destination = byName ? SOCKSEndpoint(address: .domain("localhost"), port: echo.port) : SOCKSEndpoint(echo)
            try await client.send(SOCKS4Request(command: .connect, destination: destination, userID: Array("resources".utf8)).encoded())
            let reply = try await client.receive(exactly: 8)
            guard reply[0] == 0x00, reply[1] == 0x5A else { throw Failure("SOCKS4 reply \(reply)") }
            try await client.send([0x2A])
            guard try await client.receive(exactly: 1) == [0x2A] else { throw Failure("SOCKS4 CONNECT echoed the wrong byte") }
            client.connection.shutdownWrite()
            guard try await client.receiveUntilEOF().isEmpty else { throw Failure("SOCKS4 CONNECT: bytes after the echo") }
        }
    }
}
