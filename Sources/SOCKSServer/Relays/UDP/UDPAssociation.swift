import AsyncSockets
import SOCKSClient
import SOCKSProtocol

/// The relay of one UDP ASSOCIATE (RFC 1928 §7): datagrams between the client and its destinations, for as
/// long as the client's control connection lives.
///
/// The calling task relays client → egress and watches the control connection at once; child tasks, all
/// ended with it: egress → client, and, when the egress can end by itself (an upstream's association),
/// one that waits for that. The idle timeout is a loop-timer watchdog that closes the sockets, not a task. Bad
/// datagrams (from a stranger, fragmented, malformed, undeliverable) are dropped and counted; none of them
/// ends the association. Both directions read through sequences: client datagrams from the client
/// socket's `datagrams`, replies from the egress's `replies` (handed on by `EgressForwarder.relayReplies`
/// through a `UDPClientSink`). Their iterators borrow a buffer from `DatagramBufferPool` only while
/// datagrams keep coming, so while nothing arrives the relay holds no datagram buffer.
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

    func run() async -> Ending {
        // The closures take the fields they use (the forwarder, not a copy of its egress; not a copy of
        // this relay): each copy was room in this frame, which lies under the relay for its whole life.
        let watchdog = IdleWatchdog(loop: control.eventLoop, counters: counters, timeout: idleTimeout) { [clientSocket, forwarder] in
            clientSocket.close()
            forwarder.egress.close()
        }
        defer {
            watchdog.stop()
            clientSocket.close()
            egress.close()
        }
        // This task reads the client's datagrams and watches the control connection at once (one task
        // fewer per association: a task's frames cost about 4 KiB of an idle association, release build);
        // the children relay the replies and, when the egress can end by itself (an upstream's
        // association), wait for that. A child that ends closes the control connection, which ends this
        // task's loop: the association is over either way, and the first ending recorded is what it says.
        let first = FirstOutcome<Ending>()
        await withDiscardingTaskGroup { [control, clientSocket, client, forwarder] group in
            group.addTask {
                first.record(await Self.relayToClient(from: forwarder, through: clientSocket, to: client))
                control.close()
            }
            if egress.endsOutsideReceive {
                group.addTask {
                    await forwarder.egress.waitUntilEnded()
                    first.record(Task.isCancelled ? .controlClosed : .failed("upstream ended the association"))
                    control.close()
                }
            }
            first.record(await relayFromClient(lookupsIn: &group))
            group.cancelAll()
        }
        let ending = first.first ?? .controlClosed
        return watchdog.hasExpired ? .idle : ending
    }

    /// Client datagrams, until the control connection ends (RFC 1928: the association ends with it; bytes
    /// on it mean nothing and are discarded). Datagrams that wait for a name lookup are sent from child
    /// tasks in `lookups`, the association's own group (no group of their own: one less per association).
    private func relayFromClient(lookupsIn lookups: inout DiscardingTaskGroup) async -> Ending {
        var datagrams = clientSocket.datagrams().makeAsyncIterator()
        do {
            while let datagram = try await datagrams.next(untilEndOf: control) {
                await handleFromClient(datagram.payload, sender: datagram.sender, lookupsIn: &lookups)
            }
            return .controlClosed
        } catch {
            return Task.isCancelled || control.isClosed ? .controlClosed : .failed("client socket: \(error)")
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
        if let encapsulation = client.encapsulation {
            // In functions of their own, so that the frames of a relay without protection do not grow.
            await forwardEncapsulated(datagram, encapsulation, lookupsIn: &lookups)
            return
        }
        await forward(datagram, lookupsIn: &lookups)
    }

    /// A client datagram that is one encapsulated message: unwrapped, then forwarded; dropped when it does
    /// not unwrap.
    private func forwardEncapsulated(_ datagram: ArraySlice<UInt8>, _ encapsulation: GSSAPIEncapsulation, lookupsIn lookups: inout DiscardingTaskGroup) async {
        switch encapsulation.openDatagram(datagram) {
        case .success(let plaintext):
            await forward(plaintext[...], lookupsIn: &lookups)
        case .failure(let error):
            drop(.malformed, "GSS-API: \(error)")
        }
    }

    /// A client datagram's header parsed, and its payload forwarded; dropped when malformed or fragmented.
    private func forward(_ datagram: ArraySlice<UInt8>, lookupsIn lookups: inout DiscardingTaskGroup) async {
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

    private static func relayToClient(from forwarder: EgressForwarder, through clientSocket: UDPSocket, to client: UDPClientLatch) async -> Ending {
        var sink = UDPClientSink(socket: clientSocket, client: client, drop: forwarder.drop)
        do {
            try await forwarder.relayReplies(to: &sink)
            return .failed("the egress's replies ended")
        } catch {
            return Self.ending(after: error)
        }
    }

    /// How a relay loop's error ends the association. Never inlined: the message's temporaries would join
    /// the frame of the loop, which an idle association's task keeps room for.
    @inline(never)
    private static func ending(after error: any Error) -> Ending {
        Task.isCancelled ? .controlClosed : .failed("\(error)")
    }
}
