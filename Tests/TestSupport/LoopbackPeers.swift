import AsyncSockets
import Foundation
import Glibc
import Synchronization

/// Test peers on loopback: each binds port 0 and serves until its task is cancelled.
package enum LoopbackPeers {
    /// Raises the soft descriptor limit to the hard one: the concurrency tests hold thousands of sockets.
    package static func raiseDescriptorLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// A TCP echo server on `address` (port 0 by default). Each connection echoes until EOF, then half-closes.
    package static func startEcho(on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0)) throws -> RunningPeer {
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

    /// A minimal HTTP/1.1 server answering every request with `200 OK` and `body`, then closing; with
    /// `answerAfter`, that long after the request head has arrived (an origin that thinks).
    package static func startHTTP(
        body: String, on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0), answerAfter delay: Duration = .zero
    ) throws -> RunningPeer {
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
                            if delay > .zero { try await Task.sleep(for: delay) }
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
    package static func startUDPEcho(on address: SocketAddress = SocketAddress(ip: .ipv4Loopback, port: 0), dualStack: Bool = false) throws -> RunningUDPPeer {
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

    /// A port on loopback where nobody listens, for "connection refused", reserved on 127.0.0.1 and ::1 for
    /// as long as the returned value lives: its sockets are bound but never listen, so connecting is
    /// refused, while the kernel can neither give the port to another test's listener nor use it as the
    /// source port of a connection (which would connect to itself).
    package static func refusingPort() throws -> RefusingPort {
        try RefusingPort()
    }

    /// A port that was free a moment ago (bound, then released), for a program that must bind it itself.
    /// Racy by nature: prefer `refusingPort()` wherever the port only has to refuse.
    package static func freePort() throws -> UInt16 {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        let port = listener.localAddress.port
        listener.close()
        return port
    }
}

/// A running peer; `stop()` closes its listener and cancels its connections.
package struct RunningPeer: Sendable {
    package let address: SocketAddress
    let listener: TCPListener
    let task: Task<Void, Never>

    package func stop() {
        listener.close()
        task.cancel()
    }
}


/// A running UDP peer; `stop()` closes its socket.
package struct RunningUDPPeer: Sendable {
    package let socket: UDPSocket
    let task: Task<Void, Never>
    /// Every sender the peer has heard from, in order.
    package let senders: SenderLog

    package var address: SocketAddress { socket.localAddress }

    package func stop() {
        socket.close()
        task.cancel()
    }
}

/// A thread-safe list of datagram senders.
package final class SenderLog: Sendable {
    private let entries = Mutex<[SocketAddress]>([])
    func append(_ sender: SocketAddress) { entries.withLock { $0.append(sender) } }
    package var all: [SocketAddress] { entries.withLock { $0 } }
}

/// A loopback port held by bound, non-listening TCP sockets (IPv4 and IPv6): connecting to it is refused.
package final class RefusingPort: Sendable {
    package let port: UInt16
    private let descriptors: [Int32]

    init() throws {
        for _ in 0..<20 {
            let v4 = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            // The pointers are to locals of this loop iteration, used only by these calls.
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(v4, $0, length) == 0 && getsockname(v4, $0, &length) == 0
                }
            }
            guard bound else { close(v4); continue }
            let port = UInt16(bigEndian: address.sin_port)
            let v6 = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var only: Int32 = 1
            setsockopt(v6, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
            var address6 = sockaddr_in6()
            address6.sin6_family = sa_family_t(AF_INET6)
            address6.sin6_port = port.bigEndian
            address6.sin6_addr.__in6_u.__u6_addr8.15 = 1
            let bound6 = withUnsafePointer(to: &address6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(v6, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
            }
            guard bound6 else { close(v4); close(v6); continue }
            self.port = port
            self.descriptors = [v4, v6]
            return
        }
        throw SocketError.failed(operation: "reserve a loopback port", errno: Errno(rawValue: EADDRINUSE))
    }

    deinit {
        descriptors.forEach { close($0) }
    }
}
