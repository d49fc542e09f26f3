import AsyncSockets
import Foundation
import Glibc
import Synchronization

/// Test peers on loopback: each binds port 0 and serves until its task is cancelled.
public enum LoopbackPeers {
    /// Raises the soft descriptor limit to the hard one: the concurrency tests hold thousands of sockets.
    public static func raiseDescriptorLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// A TCP echo server on `address` (port 0 by default). Each connection echoes until EOF, then half-closes.
    public static func startEcho(on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0)) throws -> RunningPeer {
        let listener = try TCPListener(bindingTo: address)
        let task = Task {
            await withDiscardingTaskGroup { group in
                do {
                    for try await connection in listener.connections() {
                        group.addTask {
                            do {
                                for try await chunk in connection.chunks() { try await connection.write(chunk) }
                                connection.shutdownWrite()
                            } catch {}
                            connection.close()
                        }
                    }
                } catch {}
            }
        }
        return RunningPeer(address: listener.localAddress, listener: listener, task: task)
    }

    /// A minimal HTTP/1.1 server answering every request with `200 OK` and `body`, then closing.
    public static func startHTTP(body: String, on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0)) throws -> RunningPeer {
        let listener = try TCPListener(bindingTo: address)
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n\(body)".utf8)
        let task = Task {
            await withDiscardingTaskGroup { group in
                do {
                  for try await connection in listener.connections() {
                    group.addTask {
                        var request: [UInt8] = []
                        do {
                            for try await chunk in connection.chunks() {
                                request.append(contentsOf: chunk)
                                if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
                            }
                            try await connection.write(response)
                        } catch {}
                        connection.shutdownWrite()
                        connection.close()
                    }
                  }
                } catch {}
            }
        }
        return RunningPeer(address: listener.localAddress, listener: listener, task: task)
    }

    /// A UDP echo server: every datagram goes back to its sender unchanged. `senders` records who sent.
    public static func startUDPEcho(on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0), dualStack: Bool = false) throws -> RunningUDPPeer {
        let socket = try UDPSocket(bindingTo: address, dualStack: dualStack)
        let senders = SenderLog()
        let task = Task {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                guard let (count, sender) = try? await socket.receive(into: &buffer) else { return }
                senders.append(sender)
                try? await socket.send(buffer[0..<count], to: sender)
            }
        }
        return RunningUDPPeer(socket: socket, task: task, senders: senders)
    }

    /// A port on loopback where nobody listens (bound, then closed), for "connection refused".
    public static func closedPort() throws -> UInt16 {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let port = listener.localAddress.port
        listener.close()
        return port
    }
}

/// A running peer; `stop()` closes its listener and cancels its connections.
public struct RunningPeer: Sendable {
    public let address: SocketAddress
    let listener: TCPListener
    let task: Task<Void, Never>

    public func stop() {
        listener.close()
        task.cancel()
    }
}


/// A running UDP peer; `stop()` closes its socket.
public struct RunningUDPPeer: Sendable {
    public let socket: UDPSocket
    let task: Task<Void, Never>
    /// Every sender the peer has heard from, in order.
    public let senders: SenderLog

    public var address: SocketAddress { socket.localAddress }

    public func stop() {
        socket.close()
        task.cancel()
    }
}

/// A thread-safe list of datagram senders.
public final class SenderLog: Sendable {
    private let entries = Mutex<[SocketAddress]>([])
    func append(_ sender: SocketAddress) { entries.withLock { $0.append(sender) } }
    public var all: [SocketAddress] { entries.withLock { $0 } }
}
