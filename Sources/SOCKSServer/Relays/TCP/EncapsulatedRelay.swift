import AsyncSockets
import SOCKSProtocol

/// The TCP relay of a session under GSS-API per-message protection (RFC 1961 §5, levels 1 and 2): what the
/// client sends arrives as encapsulated messages, each unwrapped before it goes to the target; what the
/// target sends is wrapped into messages before it goes to the client.
///
/// Every byte passes through user space (and the library), so nothing is spliced. Otherwise it ends as
/// `TCPRelay` does: each direction a child task; EOF in one becomes a half-close on the other; the first
/// error (a token that does not unwrap among them) ends both; the idle watchdog closes both sockets; both
/// connections are closed when `run()` returns.
struct EncapsulatedRelay {
    /// What `run()` throws when the idle watchdog ended the relay.
    struct IdleTimeout: Error {}

    let client: TCPConnection
    let target: TCPConnection
    let encapsulation: GSSAPIEncapsulation
    /// What the client sent encapsulated after its request, read with the handshake.
    let pendingInput: [UInt8]
    let idleTimeout: Duration?
    let counters: RelayCounters
    var bandwidth: BandwidthLimiter?

    /// A message from the client that is not encapsulated data, or whose token does not unwrap.
    struct ProtectionFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// How much of the target's bytes one read takes, and so one message carries at most.
    static let readSize = 16 * 1024

    nonisolated(nonsending) func run() async throws {
        defer {
            client.close()
            target.close()
        }
        let watchdog = idleTimeout.map { timeout in
            IdleWatchdog(loop: client.eventLoop, counters: counters, timeout: timeout) { [client, target] in
                client.close()
                target.close()
            }
        }
        defer { watchdog?.stop() }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await up() }
                group.addTask { try await down() }
            }
        } catch {
            if watchdog?.hasExpired == true { throw IdleTimeout() }
            throw error
        }
    }

    /// Client to target: messages read and unwrapped, their plaintext written on; the client's EOF (between
    /// messages) half-closes the target.
    private func up() async throws {
        var buffer = pendingInput
        var chunk = [UInt8](repeating: 0, count: Self.readSize)
        while true {
            var reader = ByteReader(buffer[...])
            var consumed = 0
            while let message = try GSSAPIMessage.parse(from: &reader) {
                guard message.kind == .encapsulation else {
                    throw ProtectionFailure(description: "message type \(message.kind) in an encapsulated session")
                }
                let plaintext: [UInt8]
                switch encapsulation.open(message.token) {
                case .success(let bytes): plaintext = bytes
                case .failure(let error): throw ProtectionFailure(description: error.description)
                }
                consumed = reader.position - buffer.startIndex
                if !plaintext.isEmpty {
                    try await BandwidthLimiter.write(plaintext[...], under: bandwidth, pacedOn: client.eventLoop) { piece in
                        try await target.write(piece)
                        counters.countUp(piece.count)
                    }
                }
            }
            buffer.removeFirst(consumed)
            let count = try await client.read(into: &chunk)
            guard count > 0 else {
                guard buffer.isEmpty else { throw ProtectionFailure(description: "the client closed inside a message") }
                target.shutdownWrite()
                return
            }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// Target to client: each read wrapped into a message and written; the target's EOF half-closes the
    /// client.
    private func down() async throws {
        var chunk = [UInt8](repeating: 0, count: Self.readSize)
        while true {
            // Under a bandwidth cap, read no more than it allows now: the read goes to the end of the buffer,
            // leaving room for just that much.
            var start = 0
            if let bandwidth {
                try await bandwidth.waitForGrant(on: client.eventLoop)
                start = chunk.count - min(chunk.count, bandwidth.allowance())
            }
            let count = try await target.read(into: &chunk, at: start)
            guard count > 0 else {
                client.shutdownWrite()
                return
            }
            bandwidth?.consume(count)
            switch encapsulation.seal(chunk[start..<(start + count)]) {
            case .success(let sealed): try await client.write(sealed)
            case .failure(let error): throw ProtectionFailure(description: error.description)
            }
            counters.countDown(count)
        }
    }
}
