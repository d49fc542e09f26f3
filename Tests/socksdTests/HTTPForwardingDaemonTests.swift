import AsyncSockets
import Foundation
import Testing
import TestSupport

/// HTTP forwarding against the real binary, over raw sockets so the bytes and their order are the test's:
/// a client that half-closes after its request still gets the whole answer. Every daemon and origin
/// listens on loopback only.
@Suite struct HTTPForwardingDaemonTests {
    /// `GET http://ORIGIN/ HTTP/1.x`, then `shutdown(SHUT_WR)` (as `nc -N` does): the whole response comes,
    /// then the proxy's FIN, and the access line says the request succeeded. The origin answers late, so the
    /// client's FIN has reached the proxy before the answer.
    @Test(arguments: [0, 1])
    func aClientThatHalfClosesAfterItsRequestGetsTheWholeAnswer(minorVersion: Int) async throws {
        let body = "answered after the client's FIN"
        let web = try LoopbackPeers.startHTTP(body: body, answerAfter: .milliseconds(500))
        defer { web.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback()
        let (client, received) = try await withDeadline(SessionScript.sessionTimeLimit) {
            let connection = try await TCPConnection.connect(to: proxy)
            defer { connection.close() }
            try await connection.write(Array("GET http://\(web.address)/ HTTP/1.\(minorVersion)\r\nHost: \(web.address)\r\n\r\n".utf8))
            connection.shutdownWrite()
            var reader = HTTPResponseReader(connection)
            return (connection.localAddress, try await reader.untilEOF())
        }
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n") && text.hasSuffix("\r\n\r\n\(body)"), "\(text)\n\(daemon.log)")
        #expect(await daemon.waitForLog { lines in
            lines.contains { $0.contains("client=\(client) protocol=http ") && $0.contains(" destination=\(web.address) ") && $0.hasSuffix(" outcome=succeeded") }
        }, "\(daemon.log)")
        #expect(!daemon.log.contains("outcome=client-closed"), "\(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }
}
