import AsyncSockets
import Foundation
import Testing
import TestSupport

/// HTTP forwarding against the real binary, over raw sockets so the bytes and their order are the test's:
/// a client that half-closes after its request still gets the whole answer; on a kept connection each
/// request is judged by its own login, and its access line names that request's user. Every daemon and
/// origin listens on loopback only.
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

    /// One kept connection: a GET as alice, a GET as bob (his own right login: his request), then a GET as
    /// bob with a wrong password (407, then the close). The access lines, in order, name alice, bob, bob.
    @Test func eachRequestOnAKeptConnectionNamesItsOwnUser() async throws {
        let web = try LoopbackPeers.startKeepAliveHTTP(body: "kept")
        defer { web.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--user", "alice:pw-alice-71", "--user", "bob:pw-bob-42"])
        let requests = [("alice", "pw-alice-71"), ("bob", "pw-bob-42"), ("bob", "pw-wrong-99")].map { user, password in
            "GET http://\(web.address)/ HTTP/1.1\r\nHost: \(web.address)\r\n" + SessionScript.proxyAuthorization(user, password) + "\r\n"
        }
        let (client, statuses) = try await withDeadline(SessionScript.sessionTimeLimit) {
            let connection = try await TCPConnection.connect(to: proxy)
            defer { connection.close() }
            var reader = HTTPResponseReader(connection)
            var statuses: [Int] = []
            for request in requests {
                try await connection.write(Array(request.utf8))
                let head = try await reader.head()
                statuses.append(head.status)
                _ = try await reader.body(count: head.contentLength ?? 0)
            }
            // After the 407 the proxy closes.
            _ = try await reader.untilEOF()
            return (connection.localAddress, statuses)
        }
        #expect(statuses == [200, 200, 407], "\(daemon.log)")
        let expected = [("alice", "succeeded"), ("bob", "succeeded"), ("bob", "auth-failed")]
        #expect(await daemon.waitForLog { $0.filter { $0.contains("client=\(client) ") }.count == expected.count }, "\(daemon.log)")
        let lines = daemon.logLines.filter { $0.contains("client=\(client) ") }
        #expect(lines.count == expected.count, "\(daemon.log)")
        for (line, (user, outcome)) in zip(lines, expected) {
            #expect(line.contains(" user=\(user) command=GET ") && line.hasSuffix(" outcome=\(outcome)"), "\(lines)")
        }
        #expect(!daemon.log.contains("pw-"), "a password reached the log:\n\(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }
}
