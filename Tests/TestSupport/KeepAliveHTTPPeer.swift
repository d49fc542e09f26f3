import AsyncSockets
import Foundation

extension LoopbackPeers {
    /// A minimal HTTP/1.1 origin that keeps connections open: every request (its head, and a body of its
    /// Content-Length, if any) is answered `200 OK` with `body` and a Content-Length, and the connection
    /// waits for the next one, until the client closes it or a request says `Connection: close`. What an
    /// HTTP proxy's forwarding with keep-alive needs, in-process and fast enough for hundreds of sessions.
    package static func startKeepAliveHTTP(body: String, on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0)) throws -> RunningPeer {
        let listener = try TCPListener(bindingTo: address)
        let task = Task {
            await withDiscardingTaskGroup { group in
                do {
                    for try await connection in listener.connections() {
                        group.addTask {
                            do { try await serveKeepAlive(connection, body: body) } catch {}
                            connection.close()
                        }
                    }
                } catch {}
            }
        }
        return RunningPeer(address: listener.localAddress, listener: listener, task: task)
    }

    /// Answers the requests on `connection` one after another; returns at EOF or after a closing request.
    private static func serveKeepAlive(_ connection: TCPConnection, body: String) async throws {
        let separator: [UInt8] = [13, 10, 13, 10]
        var received: [UInt8] = []
        for try await chunk in connection.chunks() {
            received.append(contentsOf: chunk)
            while let end = received.indices.first(where: { received[$0...].starts(with: separator) }) {
                let head = String(decoding: received[..<end], as: UTF8.self).lowercased().split(separator: "\r\n")
                let length = head.lazy.compactMap { line -> Int? in
                    guard line.hasPrefix("content-length:") else { return nil }
                    return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                }.first ?? 0
                // The body has not all arrived: wait for more bytes.
                guard received.count >= end + 4 + length else { break }
                received.removeFirst(end + 4 + length)
                let closing = head.contains { $0.hasPrefix("connection:") && $0.contains("close") }
                let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nContent-Type: text/plain\r\n"
                    + (closing ? "Connection: close\r\n" : "") + "\r\n" + body
                try await connection.write(Array(response.utf8))
                if closing {
                    connection.shutdownWrite()
                    return
                }
            }
        }
    }
}
