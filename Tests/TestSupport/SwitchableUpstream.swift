import AsyncSockets
import Synchronization

/// A stand-in for an upstream that can be stopped and started again without giving up its port (another
/// test running in parallel could take a released port): it listens on a port of its own for its whole
/// life and, while `isUp`, passes each connection on to `target` (a real SOCKS server) byte for byte; while
/// down, it closes each connection at once, before any byte: an upstream that cannot complete a greeting.
package final class SwitchableUpstream: Sendable {
    let listener: TCPListener
    let target: SocketAddress
    private let up = Atomic<Bool>(true)
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Connections passed on while up, open now: cut when it goes down (as a stopped upstream cuts them).
    private let carried = Mutex<[TCPConnection]>([])

    package init(forwardingTo target: SocketAddress) throws {
        listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        self.target = target
        let listener = self.listener
        task.withLock {
            $0 = Task { [self] in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in listener.connections() {
                            guard up.load(ordering: .relaxed) else {
                                connection.close()
                                continue
                            }
                            group.addTask { await self.pass(connection) }
                        }
                    } catch {}
                }
            }
        }
    }

    package var port: UInt16 { listener.localAddress.port }

    /// Stops passing connections on and cuts those it carries.
    package func goDown() {
        up.store(false, ordering: .relaxed)
        for connection in carried.withLock({ carried in defer { carried = [] }; return carried }) { connection.close() }
    }

    package func comeUp() { up.store(true, ordering: .relaxed) }

    package func stop() {
        goDown()
        listener.close()
        task.withLock { $0 }?.cancel()
    }

    private func pass(_ client: TCPConnection) async {
        guard let server = try? await TCPConnection.connect(to: target) else {
            client.close()
            return
        }
        carried.withLock { $0 += [client, server] }
        await withDiscardingTaskGroup { group in
            group.addTask { await Self.copy(from: client, to: server) }
            group.addTask { await Self.copy(from: server, to: client) }
        }
        client.close()
        server.close()
        carried.withLock { $0.removeAll { $0 === client || $0 === server } }
    }

    private static func copy(from source: TCPConnection, to sink: TCPConnection) async {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while let count = try? await source.read(into: &buffer), count > 0 {
            guard (try? await sink.write(buffer[..<count])) != nil else { break }
        }
        // Either side's end ends both: a relay through a SOCKS server has no half-close to keep.
        source.close()
        sink.close()
    }
}
