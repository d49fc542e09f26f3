import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// CONNECT: reach the destination within the connect deadline, reply with the real bound address, pass
    /// on any early data, then relay until both directions end.
    func serveConnect(_ accepted: Accepted) async {
        let destination = accepted.request.destination
        let target: TCPConnection
        do {
            target = try await withDeadline(context.configuration.connectTimeout) { [resolver = context.configuration.resolver] in
                try await Self.dial(destination, resolver: resolver)
            }
        } catch {
            let code = SOCKSReplyCode(reaching: error)
            await fail(code, reason: "\(error)")
            return
        }
        let counters = RelayCounters()
        defer {
            record.bytesUp = counters.bytesUp
            record.bytesDown = counters.bytesDown
        }
        do {
            try await connection.write(SOCKSReply(code: .succeeded, bound: SOCKSEndpoint(target.localAddress)).encoded())
            if !accepted.earlyData.isEmpty {
                try await target.write(accepted.earlyData)
                counters.countUp(accepted.earlyData.count)
            }
            record.outcome = "succeeded"
            let relay = TCPRelay(
                client: connection, target: target, bufferSize: context.configuration.relayBufferSize,
                idleTimeout: context.configuration.idleTimeout, counters: counters)
            try await relay.run()
        } catch TCPRelay.Ending.idleTimeout {
            record.outcome = "idle-timeout"
        } catch is CancellationError {
            record.outcome = "cancelled"
        } catch {
            record.outcome = "relay-error(\(error))"
            context.logger.debug("session \(record.client): relay ended: \(error)")
        }
        target.close()
    }

    /// Connects to a literal address directly, or resolves a name and races its addresses.
    private static func dial(_ destination: SOCKSEndpoint, resolver: any HostResolver) async throws -> TCPConnection {
        if let address = destination.socketAddress {
            return try await TCPConnection.connect(to: address)
        }
        guard case .domain(let name) = destination.address else { throw SocketError.nameNotFound("\(destination)") }
        return try await TCPConnection.connect(toHost: name, port: destination.port, resolver: resolver)
    }
}
