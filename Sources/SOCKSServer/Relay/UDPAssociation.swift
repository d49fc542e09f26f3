import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// The relay of one UDP ASSOCIATE (RFC 1928 §7): datagrams between the client and its destinations, for as
/// long as the client's control connection lives.
///
/// Child tasks, all ended together: client → egress, egress → client, and, when the egress can end by
/// itself (an upstream's association), one that waits for that; the calling task reads the control
/// connection until EOF meanwhile. The idle timeout is a loop-timer watchdog that closes the sockets, not a task. Bad
/// datagrams (from a stranger, fragmented, malformed, undeliverable) are dropped and counted; none of them
/// ends the association. While nothing arrives the relay holds no datagram buffer: both directions wait
/// for readiness first and borrow a buffer from the pool only to handle what came.
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

    /// The kernel buffers asked for each relay socket, so a burst is not dropped before the relay reads it
    /// (granted up to the system's maximum; used only while datagrams wait).
    static let socketBufferSize = 1 << 20

    /// Room in front of a reply for its SOCKS UDP header: even one with a domain (262 bytes) fits.
    static let headerRoom = DatagramBufferPool.headroom

    func run() async -> Ending {
        let watchdog = IdleWatchdog(loop: control.eventLoop, counters: counters, timeout: idleTimeout) { [clientSocket, egress] in
            clientSocket.close()
            egress.close()
        }
        defer {
            watchdog.stop()
            clientSocket.close()
            egress.close()
        }
        // The children relay; this task itself watches the control connection (one task fewer per
        // association). A child that ends closes the control connection, which ends the watch: the
        // association is over either way, and the first ending recorded is what it says.
        let first = FirstOutcome<Ending>()
        await withTaskGroup(of: Void.self) { [control] group in
            group.addTask {
                first.record(await self.relayFromClient())
                control.close()
            }
            group.addTask {
                first.record(await self.relayToClient())
                control.close()
            }
            if egress.endsOutsideReceive {
                group.addTask {
                    await egress.waitUntilEnded()
                    first.record(Task.isCancelled ? .controlClosed : .failed("upstream ended the association"))
                    control.close()
                }
            }
            first.record(await watchControl())
            group.cancelAll()
        }
        let ending = first.first ?? .controlClosed
        return watchdog.hasExpired ? .idle : ending
    }

    private func relayFromClient() async -> Ending {
        await withDiscardingTaskGroup { lookups in
            do {
                while true {
                    try await clientSocket.waitUntilReadable()
                    try await DatagramBufferPool.shared.withBuffer { buffer in
                        while let (count, sender) = try clientSocket.receiveNow(into: &buffer) {
                            await handleFromClient(buffer[0..<count], sender: sender, lookupsIn: &lookups)
                        }
                    }
                }
            } catch {
                return Task.isCancelled ? .controlClosed : .failed("client socket: \(error)")
            }
        }
    }

    /// One datagram from the client's side: admitted, parsed and forwarded, or dropped and counted.
    private func handleFromClient(_ datagram: ArraySlice<UInt8>, sender: SocketAddress, lookupsIn lookups: inout DiscardingTaskGroup) async {
        switch client.admit(sender) {
        case .client:
            break
        case .stranger:
            drop(.stranger, "from \(sender), not the associated client")
            return
        case .ownSocket:
            drop(.ownSocket, "from \(sender), one of this server's own UDP sockets")
            return
        }
        let header: SOCKSUDPHeader
        let payloadStart: Int
        do {
            (header, payloadStart) = try SOCKSUDPHeader.parse(datagram: datagram)
        } catch .invalidDomainName(let name) {
            drop(.malformed, "to \(SOCKSLogger.escapingFieldValue(name)): not a host name")
            return
        } catch {
            drop(.malformed, "malformed header: \(error)")
            return
        }
        guard header.fragment == 0 else {
            drop(.fragmented, "fragment \(header.fragment) (fragmentation is not supported)")
            return
        }
        await forwarder.forward(datagram[payloadStart...], to: header.endpoint, lookupsIn: &lookups)
    }

    private func relayToClient() async -> Ending {
        while true {
            do {
                try await egress.waitUntilReadable()
                try await DatagramBufferPool.shared.withBuffer { buffer in
                    let count: Int
                    let source: SOCKSEndpoint
                    do {
                        (count, source) = try await egress.receive(into: &buffer, at: Self.headerRoom)
                    } catch let refused as RefusedReply {
                        drop(refused.reason, "\(refused)")
                        return
                    }
                    await deliver(&buffer, count: count, from: source)
                }
            } catch {
                return Task.isCancelled ? .controlClosed : .failed("\(error)")
            }
        }
    }

    /// Sends a reply (its payload at `headerRoom` in `buffer`) to the client with its source in the header.
    private func deliver(_ buffer: inout [UInt8], count: Int, from source: SOCKSEndpoint) async {
        guard let destination = client.address else {
            drop(.clientUnknown, "from \(source) before the client's first datagram")
            return
        }
        if let bandwidth = forwarder.bandwidth, !bandwidth.admitDatagram(count) {
            drop(.bandwidth, "from \(source): over the user's bandwidth cap")
            return
        }
        // The header goes into the room in front of the payload: no copy of the payload.
        let header = SOCKSUDPHeader(endpoint: source).encoded()
        let start = Self.headerRoom - header.count
        buffer.replaceSubrange(start..<Self.headerRoom, with: header)
        do {
            try await clientSocket.send(buffer[start..<Self.headerRoom + count], to: destination)
            counters.countDatagramDown(count)
        } catch {
            drop(.undeliverable, "to client \(destination): \(error)")
        }
    }

    /// RFC 1928: the association ends when its TCP connection ends. Bytes on it mean nothing; discarded.
    private func watchControl() async -> Ending {
        var buffer = [UInt8](repeating: 0, count: 256)
        while let count = try? await control.read(into: &buffer), count > 0 {}
        return .controlClosed
    }
}
