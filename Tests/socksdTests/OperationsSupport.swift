import AsyncSockets
import Foundation
import Glibc
import SOCKSClient
import SOCKSProtocol
import Synchronization
import Testing
import TestSupport

/// Helpers for the tests of issue 10 against the real daemon: its metrics endpoint, its reloads, a
/// configuration file rewritten under it, and a bulk transfer whose progress a test can hold still.

extension DaemonProcess {
    /// `HOST:PORT` as the daemon prints it (`127.0.0.1:1080`, `[::1]:1080`).
    static func address(_ text: some StringProtocol) -> SocketAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return try? SocketAddress(host, port: port)
    }

    /// The first `listening on` address.
    func proxyAddress() async throws -> SocketAddress {
        let first = try #require(try await listeningAddresses().first)
        return try #require(Self.address(first))
    }

    /// Waits for the `metrics on HOST:PORT` line on standard error and returns the address.
    func metricsAddress(timeout: Duration = .seconds(20)) async throws -> SocketAddress {
        let prefix = "metrics on "
        _ = await waitForLog(within: timeout) { lines in lines.contains { $0.hasPrefix(prefix) } || !process.isRunning }
        let line = try #require(logLines.first { $0.hasPrefix(prefix) }, "no 'metrics on' line; log:\n\(log)")
        return try #require(Self.address(line.dropFirst(prefix.count)))
    }

    /// How many `configuration reloaded` and `reload failed` lines `lines` hold.
    static func reloads(in lines: [Substring]) -> (succeeded: Int, failed: Int) {
        var succeeded = 0, failed = 0
        for line in lines {
            if line.contains(" configuration reloaded; ") { succeeded += 1 } else if line.contains(" reload failed: ") { failed += 1 }
        }
        return (succeeded, failed)
    }

    /// Sends SIGHUP once the daemon catches it (until then SIGHUP is ignored and would be lost), and waits
    /// until the log (`lines`; standard error unless given) shows one more reload, good or failed, than it
    /// did before; returns whether it did within `timeout`.
    func reload(within timeout: Duration = .seconds(30), lines: (() -> [Substring])? = nil) async -> Bool {
        let readLines = lines ?? { self.logLines }
        let before = Self.reloads(in: readLines())
        _ = await waitUntilCatching(SIGHUP)
        signal(SIGHUP)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let now = Self.reloads(in: readLines())
            if now.succeeded + now.failed > before.succeeded + before.failed { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// Rewrites a configuration file the way an editor or a deployment does: a new file renamed over the old,
/// so that the daemon never reads half of it.
func rewriteConfiguration(_ file: TemporaryFile, _ text: String) throws {
    try text.write(toFile: file.path, atomically: true, encoding: .utf8)
}

// MARK: The metrics endpoint

/// A raw HTTP/1.1 client for the daemon's metrics endpoint: one request a connection, read until the
/// endpoint closes.
enum MetricsClient {
    struct Answer: Sendable {
        var status: Int
        var head: String
        var body: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `GET path`, as curl sends it.
    static func get(_ path: String, from address: SocketAddress, timeout: Duration = .seconds(15)) async throws -> Answer {
        try await send(Array("GET \(path) HTTP/1.1\r\nHost: \(address)\r\nUser-Agent: socksd-tests\r\nAccept: */*\r\n\r\n".utf8), to: address, timeout: timeout)
    }

    /// The body of `GET /metrics`, which must be a 200.
    static func scrape(_ address: SocketAddress) async throws -> String {
        let answer = try await get("/metrics", from: address)
        guard answer.status == 200 else { throw Failure(description: "GET /metrics: \(answer.status) \(answer.body)") }
        return answer.body
    }

    /// Sends `request` and reads until the endpoint closes; parses the status line and splits off the body.
    static func send(_ request: [UInt8], to address: SocketAddress, timeout: Duration = .seconds(15)) async throws -> Answer {
        let firstLine = String(decoding: request.prefix { $0 != 0x0D && $0 != 0x0A }.prefix(40), as: UTF8.self)
        let received: [UInt8]
        do {
            received = try await exchange(request, with: address, timeout: timeout)
        } catch {
            throw Failure(description: "'\(firstLine)' to \(address): \(error)")
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure(description: "'\(firstLine)' to \(address): not an HTTP response: \(text.prefix(200))") }
        let head = String(text[..<split.lowerBound])
        let statusLine = head.prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw Failure(description: "'\(firstLine)' to \(address): not an HTTP/1.1 status line: \(head.prefix(200))")
        }
        return Answer(status: status, head: head, body: String(text[split.upperBound...]))
    }

    /// Connects, sends `request`, and returns what comes back until the endpoint closes, within `timeout`.
    private static func exchange(_ request: [UInt8], with address: SocketAddress, timeout: Duration) async throws -> [UInt8] {
        try await withDeadline(timeout) {
            let connection = try await TCPConnection.connect(to: address)
            defer { connection.close() }
            try await connection.write(request)
            return try await HTTPTestExchange.readUntilClosed(connection, timeout: timeout)
        }
    }
}

/// `promtool check metrics`, Prometheus's own check of the text format (Debian's `prometheus` package).
enum PromtoolCheck {
    static let path = "/usr/bin/promtool"

    /// Checks `exposition`; returns promtool's exit status and what it said. A promtool that is not
    /// installed records a failure (a check that cannot run must not pass) and returns nil.
    static func run(_ exposition: String) async throws -> (status: Int32?, output: String)? {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(path) is not installed: run .ci/run, or apt-get install prometheus")
            return nil
        }
        let input = try TemporaryFile(exposition, name: "socksd-metrics")
        let output = try TemporaryFile("", name: "socksd-promtool")
        // promtool reads the metrics from standard input, which ChildProcess gives /dev/null: a shell
        // redirects the file instead (both paths are ours, made of a UUID: nothing to quote).
        let process = try ChildProcess("/bin/sh", ["-c", "exec \(path) check metrics < '\(input.path)'"], outputPath: output.path)
        let status = try await process.exitStatus(timeout: .seconds(60))
        if status == nil { process.signal(SIGKILL) }
        return (status, (try? String(contentsOfFile: output.path, encoding: .utf8)) ?? "")
    }
}

// MARK: A bulk transfer held in flight

/// Set once, waited for by polling: what lets a paused transfer go on.
final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)
    var isOpen: Bool { opened.load(ordering: .acquiring) }
    func open() { opened.store(true, ordering: .releasing) }

    func wait() async throws {
        while !isOpen { try await Task.sleep(for: .milliseconds(10)) }
    }
}

/// How far one side of a bulk transfer has got.
final class TransferProgress: Sendable {
    let sent = Atomic<Int>(0)
    let received = Atomic<Int>(0)
}

/// What one side of a bulk transfer sent and received, with the SHA-256 of each.
struct TransferDigests: Sendable {
    var sentBytes: Int
    var sentDigest: [UInt8]
    var receivedBytes: Int
    var receivedDigest: [UInt8]
}

enum BulkTransfer {
    /// Over `connection`, at once: sends `size` bytes of `PatternStream(seed:)` and then half-closes, and
    /// reads until EOF, hashing both. With `pausingAfter` and `gate`, stops sending once that many bytes
    /// have gone and stops reading once that many have come, until the gate opens: the transfer is then
    /// held in flight (the kernel's buffers fill and the other side waits too).
    static func run(
        over connection: TCPConnection, size: Int, seed: UInt64, pausingAfter pause: Int = .max, gate: Gate? = nil,
        progress: TransferProgress = TransferProgress()
    ) async throws -> TransferDigests {
        async let sending: (Int, [UInt8]) = {
            var pattern = PatternStream(seed: seed)
            var hasher = SHA256()
            var sent = 0
            while sent < size {
                if sent >= pause, let gate { try await gate.wait() }
                let block = pattern.next(min(1024 * 1024, size - sent, pause > sent ? pause - sent : .max))
                hasher.update(block)
                try await connection.write(block)
                sent += block.count
                progress.sent.store(sent, ordering: .relaxed)
            }
            connection.shutdownWrite()
            return (sent, hasher.finalize())
        }()
        async let receiving: (Int, [UInt8]) = {
            var hasher = SHA256()
            var received = 0
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                if received >= pause, let gate { try await gate.wait() }
                let count = try await connection.read(into: &buffer)
                if count == 0 { break }
                hasher.update(buffer[0..<count])
                received += count
                progress.received.store(received, ordering: .relaxed)
            }
            return (received, hasher.finalize())
        }()
        let (sentBytes, sentDigest) = try await sending
        let (receivedBytes, receivedDigest) = try await receiving
        return TransferDigests(sentBytes: sentBytes, sentDigest: sentDigest, receivedBytes: receivedBytes, receivedDigest: receivedDigest)
    }
}

/// A destination for one bulk transfer: it accepts one connection and runs `BulkTransfer.run` on it with
/// a pattern of its own, so that bytes go both ways, each hashed at both ends.
final class BulkPeer: Sendable {
    let address: SocketAddress
    let progress: TransferProgress
    private let listener: TCPListener
    private let task: Task<TransferDigests, any Error>

    init(size: Int, seed: UInt64, pausingAfter pause: Int = .max, gate: Gate? = nil) throws {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        self.listener = listener
        address = listener.localAddress
        let progress = TransferProgress()
        self.progress = progress
        task = Task {
            let connection = try await listener.accept()
            listener.close()
            defer { connection.close() }
            return try await BulkTransfer.run(over: connection, size: size, seed: seed, pausingAfter: pause, gate: gate, progress: progress)
        }
    }

    /// What the peer sent and received, once its side is done.
    var digests: TransferDigests {
        get async throws { try await task.value }
    }

    func stop() {
        listener.close()
        task.cancel()
    }
}
