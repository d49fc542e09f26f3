import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// The relay of one UDP ASSOCIATE (RFC 1928 §7): datagrams between the client and its destinations, for as
/// long as the client's control connection lives.
///
/// Child tasks, all ended together: client → egress, egress → client, a watcher that reads the control
/// connection until EOF, the egress's own end (an upstream closing), and the idle timer. Bad datagrams
/// (from a stranger, fragmented, malformed, undeliverable) are dropped and counted; none of them ends the
/// association.
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
    let control: TCPConnection
    let client: UDPClientLatch
    let forwarder: EgressForwarder
    let idleTimeout: Duration

    var egress: any DatagramEgress { forwarder.egress }
    var counters: RelayCounters { forwarder.counters }
    var drop: DropReporter { forwarder.drop }

    /// The largest SOCKS UDP header: IPv6 (22 bytes); replies are received behind this much room.
    static let headerRoom = 22

    func run() async -> Ending {
        defer {
            clientSocket.close()
            egress.close()
        }
        return await withTaskGroup(of: Ending.self) { group in
            group.addTask { await self.relayFromClient() }
            group.addTask { await self.relayToClient() }
            group.addTask { await self.watchControl() }
            if egress.endsOutsideReceive {
                group.addTask {
                    await egress.waitUntilEnded()
                return Task.isCancelled ? .controlClosed : .failed("upstream ended the association")
                }
            }
            group.addTask {
                do { try await counters.waitUntilIdle(for: idleTimeout) } catch { return .controlClosed }
                return .idle
            }
            let ending = await group.next() ?? .controlClosed
            group.cancelAll()
            return ending
        }
    }

    private func relayFromClient() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: 65536)
        return await withDiscardingTaskGroup { lookups in
            do {
                while true {
                    let (count, sender) = try await clientSocket.receive(into: &buffer)
                    guard client.admit(sender) else {
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
                    await forwarder.forward(buffer[payloadStart..<count], to: header.endpoint, lookupsIn: &lookups)
                }
            } catch {
                return Task.isCancelled ? .controlClosed : .failed("client socket: \(error)")
            }
        }
    }

    private func relayToClient() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: Self.headerRoom + 65536)
        while true {
            let count: Int
            let source: SOCKSEndpoint
            do {
                (count, source) = try await egress.receive(into: &buffer, at: Self.headerRoom)
            } catch let stranger as StrangerDatagram {
                drop("\(stranger)")
                continue
            } catch {
                return Task.isCancelled ? .controlClosed : .failed("\(error)")
            }
            guard let destination = client.address else {
                drop("from \(source) before the client's first datagram")
                continue
            }
            // The header goes into the room in front of the payload: no copy of the payload.
            var header = SOCKSUDPHeader(endpoint: source).encoded()
            if header.count > Self.headerRoom {
                // A domain source (only an upstream reports one): rare, so a copy is fine.
                header.append(contentsOf: buffer[Self.headerRoom..<Self.headerRoom + count])
                await deliver(header[...], count: count, to: destination)
                continue
            }
            let start = Self.headerRoom - header.count
            buffer.replaceSubrange(start..<Self.headerRoom, with: header)
            await deliver(buffer[start..<Self.headerRoom + count], count: count, to: destination)
        }
    }

    private func deliver(_ datagram: ArraySlice<UInt8>, count: Int, to destination: SocketAddress) async {
        do {
            try await clientSocket.send(datagram, to: destination)
            counters.countDown(count)
        } catch {
            drop("to client \(destination): \(error)")
        }
    }

    /// RFC 1928: the association ends when its TCP connection ends. Bytes on it mean nothing; discarded.
    private func watchControl() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: 512)
        while let count = try? await control.read(into: &buffer), count > 0 {}
        return .controlClosed
    }
}
