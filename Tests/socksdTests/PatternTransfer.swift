import AsyncSockets
import TestSupport

/// A bulk transfer checked byte for byte without hashing: each side sends `PatternStream(seed:)` of its
/// own and checks what arrives against the other side's pattern (`PatternVerifier`). Several times cheaper
/// than `BulkTransfer`'s SHA-256 at both ends, which matters for the upgrade test's 20 × 32 MiB each way in
/// a test process that other tests share.
enum PatternTransfer {
    /// What one side saw: bytes sent, bytes received, and the offset of the first received byte that
    /// differed from the expected pattern (nil: none did).
    struct Outcome: Sendable {
        var sent: Int
        var received: Int
        var firstMismatch: Int?
    }

    /// Over `connection`, at once: sends `size` bytes of `PatternStream(seed: sendSeed)`, then half-closes,
    /// and reads until EOF, checking against `PatternStream(seed: receiveSeed)`. With `pausingAfter` (a
    /// multiple of 1 MiB) and `gate`, holds both directions at that many bytes until the gate opens.
    static func run(
        over connection: TCPConnection, size: Int, sendSeed: UInt64, receiveSeed: UInt64, pausingAfter pause: Int = .max, gate: Gate? = nil,
        progress: TransferProgress = TransferProgress()
    ) async throws -> Outcome {
        async let sending: Int = {
            var pattern = PatternStream(seed: sendSeed)
            var sent = 0
            while sent < size {
                if sent >= pause, let gate { try await gate.wait() }
                let block = pattern.next(min(1024 * 1024, size - sent, pause > sent ? pause - sent : .max))
                try await connection.write(block)
                sent += block.count
                progress.sent.store(sent, ordering: .relaxed)
            }
            connection.shutdownWrite()
            return sent
        }()
        async let receiving: PatternVerifier = {
            var verifier = PatternVerifier(seed: receiveSeed)
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                if verifier.count >= pause, let gate { try await gate.wait() }
                let count = try await connection.read(into: &buffer)
                if count == 0 { break }
                verifier.check(buffer[0..<count])
                progress.received.store(verifier.count, ordering: .relaxed)
            }
            return verifier
        }()
        let sent = try await sending
        let verifier = try await receiving
        return Outcome(sent: sent, received: verifier.count, firstMismatch: verifier.firstMismatch)
    }
}

/// The destination of one `PatternTransfer`: accepts one connection and runs the other side on it.
final class PatternPeer: Sendable {
    let address: SocketAddress
    let progress = TransferProgress()
    private let listener: TCPListener
    private let task: Task<PatternTransfer.Outcome, any Error>

    init(size: Int, sendSeed: UInt64, receiveSeed: UInt64, pausingAfter pause: Int = .max, gate: Gate? = nil) throws {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        self.listener = listener
        address = listener.localAddress
        let progress = self.progress
        task = Task {
            let connection = try await listener.accept()
            listener.close()
            defer { connection.close() }
            return try await PatternTransfer.run(
                over: connection, size: size, sendSeed: sendSeed, receiveSeed: receiveSeed, pausingAfter: pause, gate: gate, progress: progress)
        }
    }

    /// What the peer sent and received, once its side is done.
    var outcome: PatternTransfer.Outcome {
        get async throws { try await task.value }
    }

    func stop() {
        listener.close()
        task.cancel()
    }
}
