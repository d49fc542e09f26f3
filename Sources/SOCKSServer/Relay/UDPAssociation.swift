import AsyncSockets
import Glibc
import SOCKSClient
import SOCKSProtocol

/// The relay of one UDP ASSOCIATE (RFC 1928 §7): datagrams between the client and any destination, for as
/// long as the client's control connection lives.
///
/// Child tasks, all ended together: client → destinations, destinations → client, a watcher that reads the
/// control connection until EOF, and the idle timer. Bad datagrams (from a stranger, fragmented, malformed,
/// undeliverable) are dropped and counted; none of them ends the association.
struct UDPAssociation {
    /// Why an association ended.
    enum Ending: Sendable, CustomStringConvertible {
        case controlClosed
        case idle
        case failed(String)

        var description: String {
            switch self {
            case .controlClosed: "control-closed"
            case .idle: "udp-timeout"
            case .failed(let reason): "relay-error(\(reason))"
            }
        }
    }

    /// The client-facing socket: its address is the reply's BND.
    let clientSocket: UDPSocket
    /// The socket that talks to destinations, dual-stack when the host has IPv6.
    let targetSocket: UDPSocket
    let control: TCPConnection
    let peers: UDPAssociationPeers
    let fullCone: Bool
    let idleTimeout: Duration
    let counters: RelayCounters
    let logger: SOCKSLogger
    let label: String
    let resolver: any HostResolver
    let cache = DomainResolutionCache()

    /// The largest SOCKS UDP header: IPv6 (22 bytes); replies are received behind this much room.
    static let headerRoom = 22

    func run() async -> Ending {
        defer {
            clientSocket.close()
            targetSocket.close()
        }
        return await withTaskGroup(of: Ending.self) { group in
            group.addTask { await self.relayFromClient() }
            group.addTask { await self.relayToClient() }
            group.addTask { await self.watchControl() }
            group.addTask {
                do { try await counters.waitUntilIdle(for: idleTimeout) } catch { return .controlClosed }
                return .idle
            }
            let ending = await group.next() ?? .controlClosed
            group.cancelAll()
            return ending
        }
    }

    private func drop(_ reason: @autoclosure () -> String) {
        counters.countDrop()
        logger.debug("\(label): dropped datagram: \(reason())")
    }

    private func relayFromClient() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: 65536)
        return await withDiscardingTaskGroup { lookups in
            do {
                while true {
                    let (count, sender) = try await clientSocket.receive(into: &buffer)
                    guard peers.admitClient(sender) else {
                        drop("from \(sender), not the associated client")
                        continue
                    }
                    let header: SOCKSUDPHeader
                    let payloadStart: Int
                    do {
                        (header, payloadStart) = try SOCKSUDPHeader.parse(datagram: buffer[0..<count])
                    } catch {
                        drop("malformed header: \(error)")
                        continue
                    }
                    guard header.fragment == 0 else {
                        drop("fragment \(header.fragment) (fragmentation is not supported)")
                        continue
                    }
                    counters.touch()
                    let destination = header.endpoint
                    if let address = destination.socketAddress {
                        await send(buffer[payloadStart..<count], to: address)
                    } else if case .domain(let name) = destination.address {
                        if let cached = cache.lookUp(name, port: destination.port) {
                            await send(buffer[payloadStart..<count], to: cached)
                        } else if cache.beginLookup() {
                            // Resolved in a child task, so a slow name never holds up other datagrams.
                            let payload = Array(buffer[payloadStart..<count])
                            lookups.addTask {
                                defer { cache.endLookup() }
                                await resolveAndSend(payload, to: name, port: destination.port)
                            }
                        } else {
                            drop("too many name lookups in flight")
                        }
                    }
                }
            } catch {
                return Task.isCancelled ? .controlClosed : .failed("client socket: \(error)")
            }
        }
    }

    private func resolveAndSend(_ payload: [UInt8], to name: String, port: UInt16) async {
        do {
            let addresses = try await resolver.resolve(host: name, port: port)
            let reachable = targetSocket.localAddress.ip.isIPv6 ? addresses : addresses.filter { $0.ip.isIPv4 }
            guard let address = reachable.first else {
                drop("\(name) has no address this relay can reach")
                return
            }
            cache.store(name, address: address)
            await send(payload[...], to: address)
        } catch {
            drop("cannot resolve \(name): \(error)")
        }
    }

    private func send(_ payload: ArraySlice<UInt8>, to destination: SocketAddress) async {
        peers.rememberRemote(destination)
        do {
            try await targetSocket.send(payload, to: destination)
            counters.countUp(payload.count)
        } catch {
            drop("to \(destination): \(error)")
        }
    }

    private func relayToClient() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: Self.headerRoom + 65536)
        do {
            while true {
                let (count, sender) = try await targetSocket.receive(into: &buffer, at: Self.headerRoom)
                guard fullCone || peers.isKnownRemote(sender) else {
                    drop("from \(sender), a remote the client has not sent to")
                    continue
                }
                guard let client = peers.client else {
                    drop("from \(sender) before the client's first datagram")
                    continue
                }
                // The header goes into the room in front of the payload: no copy of the payload.
                let header = SOCKSUDPHeader(endpoint: SOCKSEndpoint(sender)).encoded()
                let start = Self.headerRoom - header.count
                buffer.replaceSubrange(start..<Self.headerRoom, with: header)
                do {
                    try await clientSocket.send(buffer[start..<Self.headerRoom + count], to: client)
                    counters.countDown(count)
                } catch {
                    drop("to client \(client): \(error)")
                }
            }
        } catch {
            return Task.isCancelled ? .controlClosed : .failed("destination socket: \(error)")
        }
    }

    /// RFC 1928: the association ends when its TCP connection ends. Bytes on it carry no meaning and are
    /// discarded.
    private func watchControl() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: 512)
        while let count = try? await control.read(into: &buffer), count > 0 {}
        return .controlClosed
    }

    /// A socket for destinations of both families when the host has IPv6, else IPv4 only.
    static func makeTargetSocket() throws -> UDPSocket {
        do {
            return try UDPSocket(bindingTo: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        } catch {
            return try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Any, port: 0))
        }
    }
}
