import AsyncSockets
import SOCKSClient
import SOCKSProtocol

extension SOCKSSession {
    /// The success reply (in the client's dialect) with `bound` as BND, any early data to `peer`, then the relay until both
    /// directions end: the end of every CONNECT and BIND. Records bytes and outcome; closes `peer`.
    func replyAndRelay(with peer: TCPConnection, bound: SOCKSEndpoint, earlyData: [UInt8]) async {
        let counters = RelayCounters(registry: context.metrics)
        tracker.relaying(with: counters)
        defer {
            record.bytesUp = counters.bytesUp
            record.bytesDown = counters.bytesDown
            peer.close()
        }
        do {
            try await writeSuccessReply(bound: bound)
            // Early data: what the client sent before it saw the reply goes first.
            if !earlyData.isEmpty {
                try await peer.write(earlyData)
                counters.countUp(earlyData.count)
            }
            record.outcome = .succeeded
            if let encapsulation = gssapi?.encapsulation {
                // Under GSS-API protection every byte is unwrapped or wrapped on its way: nothing is spliced.
                try await EncapsulatedRelay(
                    client: connection, target: peer, encapsulation: encapsulation, pendingInput: gssapi?.encapsulatedInput ?? [],
                    idleTimeout: context.configuration.idleTimeout, counters: counters, bandwidth: bandwidth
                ).run()
            } else {
                let relay = TCPRelay(client: connection, target: peer, idleTimeout: context.configuration.idleTimeout, counters: counters, bandwidth: bandwidth)
                switch await relay.run() {
                case .completed: break
                case .idleTimeout: record.outcome = .idleTimeout
                case .cancelled: record.outcome = .cancelled
                case .failed(let error):
                    record.relayFailed(error)
                    context.logger.debug("session \(record.client): relay ended: \(error)")
                }
            }
        } catch is EncapsulatedRelay.IdleTimeout {
            record.outcome = .idleTimeout
        } catch is CancellationError {
            record.outcome = .cancelled
        } catch {
            record.relayFailed(error)
            context.logger.debug("session \(record.client): relay ended: \(error)")
        }
    }
}
