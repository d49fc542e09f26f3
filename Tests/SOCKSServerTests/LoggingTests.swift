import AsyncSockets
import Glibc
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// A `LogWriter` writing into a pipe that the test reads: the standard sink's path, in-process.
final class LogPipe: Sendable {
    let readEnd: Int32
    let writeEnd: Int32
    let writer: LogWriter

    /// - Parameters:
    ///   - capacity: the writer's queue, in lines.
    ///   - stuck: fill the pipe first (shrunk to one page), so the writer blocks until the test reads.
    ///   - format, priorityPrefixes: the writer's line format.
    init(capacity: Int = 4096, stuck: Bool = false, format: LogFormat = .text, priorityPrefixes: Bool = false) throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let (readEnd, writeEnd) = (ends[0], ends[1])
        if stuck {
            let setPipeSize: Int32 = 1031, getPipeSize: Int32 = 1032  // F_SETPIPE_SZ, F_GETPIPE_SZ (Linux)
            _ = fcntl(writeEnd, setPipeSize, 4096)
            let size = Int(fcntl(writeEnd, getPipeSize))
            let filler = [UInt8](repeating: UInt8(ascii: "#"), count: size)
            // Exactly the pipe's size into an empty pipe: completes without blocking, and leaves it full.
            let written = filler.withUnsafeBytes { Glibc.write(writeEnd, $0.baseAddress, $0.count) }
            try #require(written == size)
        }
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        (self.readEnd, self.writeEnd) = (readEnd, writeEnd)
        writer = LogWriter(fileDescriptor: writeEnd, capacity: capacity, format: format, priorityPrefixes: priorityPrefixes)
    }

    func logger(level: SOCKSLogger.Level = .debug) -> SOCKSLogger {
        SOCKSLogger(level: level, writer: writer)
    }

    /// Whatever the pipe holds now.
    func readAvailable() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads until `condition` holds for what was read, for at most `timeout`.
    func read(until condition: (String) -> Bool, timeout: Duration = .seconds(10)) async -> String {
        var text = ""
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && !condition(text) {
            text += readAvailable()
            try? await Task.sleep(for: .milliseconds(5))
        }
        return text
    }

    /// Reads until the writer has written everything queued, for at most `timeout`.
    func drain(timeout: Duration = .seconds(10)) async -> String {
        var text = ""
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            text += readAvailable()
            if writer.flush(timeout: .zero) { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return text + readAvailable()
    }

    /// Ends the writer thread, then closes both ends (the test drained the pipe first).
    func close() {
        #expect(writer.close(timeout: .seconds(5)))
        Glibc.close(writeEnd)
        Glibc.close(readEnd)
    }
}

@Suite struct LoggingTests {
    /// Messages of the access log (`session client=...`) in the pipe's lines: the lines whose message, after
    /// the timestamp and level, starts that way.
    static func accessLines(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.split(separator: " ", maxSplits: 2).last?.hasPrefix("session client=") == true }
    }

    @Test func nonPrintableCharactersAreEscapedPerUTF8Byte() {
        #expect(SOCKSLogger.escapingNonPrintable("plain text: 1.2.3.4:80 [::1]") == "plain text: 1.2.3.4:80 [::1]")
        #expect(SOCKSLogger.escapingNonPrintable("a\nb\r\tc\u{0}d\u{7f}e\u{1b}[31m") == "a\\x0ab\\x0d\\x09c\\x00d\\x7fe\\x1b[31m")
        // C1 control, bidi override, line separator, no-break space; printable non-ASCII passes.
        #expect(SOCKSLogger.escapingNonPrintable("\u{85}x\u{202E}y\u{2028}z\u{A0}é中") == "\\xc2\\x85x\\xe2\\x80\\xaey\\xe2\\x80\\xa8z\\xc2\\xa0é中")
        let once = SOCKSLogger.escapingNonPrintable("user\nname\\x41")
        #expect(once == "user\\x0aname\\x41")
        #expect(SOCKSLogger.escapingNonPrintable(once) == once, "escaping twice changes nothing")

        #expect(SOCKSLogger.escapingFieldValue("alice") == "alice")
        #expect(SOCKSLogger.escapingFieldValue("a b=c\"d\\e\nf") == "a\\x20b\\x3dc\\x22d\\x5ce\\x0af")
        #expect(SOCKSLogger.escapingFieldValue("josé") == "jos\\xc3\\xa9")
        #expect(SOCKSLogger.escapingFieldValue("-") == "\\x2d", "a user named - is not \"no user\"")
    }

    @Test func aUsernameCannotForgeAnAccessLine() async throws {
        let forged = "eve\n2026-01-01T00:00:00Z info session client=6.6.6.6:6 user=admin command=connect destination=bank.example:443 up=0 down=0 duration=0.0s outcome=succeeded"
        let log = try LogPipe()
        let harness = try ServerHarness {
            $0.users = try UserDatabase([forged: "pw"])
            $0.logger = log.logger()
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: forged, password: "pw"))
        #expect(reply.code == .succeeded)
        try await client.send([1])
        #expect(try await client.receive(exactly: 1) == [1])
        client.close()
        // The same name with a wrong password.
        await #expect(throws: SOCKSTestClient.Failure.self) {
            try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: SOCKSCredentials(username: forged, password: "no"))
        }
        let escapedUser = "eve\\x0a2026-01-01T00:00:00Z\\x20info\\x20session\\x20client\\x3d6.6.6.6:6\\x20user\\x3dadmin"
        // This test's sessions are the ones with its user: a connection another test makes to a port it had
        // and this harness now has (the suite runs in parallel) gets an access line of its own.
        let ours = { (text: String) in Self.accessLines(text).filter { $0.contains("user=\(escapedUser)") } }
        var text = await log.read { ours($0).count >= 2 }
        await harness.stop()
        text += await log.drain()
        log.close()

        let access = ours(text)
        #expect(access.count == 2, "one access line per session; log:\n\(text)")
        #expect(!Self.accessLines(text).contains { $0.contains("client=6.6.6.6") })
        #expect(access.contains { $0.contains("user=\(escapedUser)") && $0.contains("outcome=succeeded") }, "log:\n\(text)")
        // The failed login is its access line alone, with the name escaped there too.
        #expect(access.contains { $0.contains("user=\(escapedUser)") && $0.contains("outcome=auth-failed") }, "log:\n\(text)")
        #expect(!text.contains("authentication failed"), "one line per failed login; log:\n\(text)")
        #expect(text.split(separator: "\n").allSatisfy { $0.first?.isNumber == true }, "every line is a log line; log:\n\(text)")
    }

    /// Fails every lookup at once.
    struct NotFoundResolver: HostResolver {
        func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
            throw SocketError.nameNotFound(host)
        }
    }

    /// A name of raw bytes that no host name has (a terminal escape, CR LF, a space, DEL, a byte that is not
    /// UTF-8) is refused with 04 unresolved, and the warning shows it escaped byte for byte; a name of valid
    /// UTF-8 that a terminal would misread (a bidirectional override, a C1 control) is an IDN to the parser:
    /// asked for, and escaped in the access line.
    @Test func aDomainWithControlBytesIsEscaped() async throws {
        let log = try LogPipe()
        let harness = try ServerHarness {
            $0.resolver = NotFoundResolver()
            $0.logger = log.logger()
        }
        let raw = Array("\u{1b}[31mred\r\nforged line\u{7f}".utf8) + [0xFF]
        let unicode = Array("red\u{202E}\u{85}é\u{FFFD}".utf8)
        for name in [raw, unicode] {
            let client = try await SOCKSTestClient.connect(to: harness.address)
            try await client.send(SOCKSGreeting(methods: [.noAuthentication]).encoded())
            _ = try await client.receive(SOCKSMethodSelection.parse)
            try await client.send([0x05, 0x01, 0x00, 0x03, UInt8(name.count)] + name + [0, 80])
            #expect(try await client.receive(SOCKSReply.parse).code == .hostUnreachable)
            client.close()
        }
        var text = await log.read { Self.accessLines($0).count >= 2 }
        await harness.stop()
        text += await log.drain()
        log.close()

        let access = Self.accessLines(text)
        #expect(access.count == 2, "log:\n\(text)")
        #expect(text.contains("invalid domain name (empty, or a byte other than a letter, digit, -, _, . or UTF-8): \\x1b[31mred\\x0d\\x0aforged\\x20line\\x7f\\xff\n"), "log:\n\(text)")
        #expect(access.contains { $0.contains("destination=- ") && $0.contains("outcome=malformed(invalid domain name") }, "log:\n\(text)")
        #expect(access.contains { $0.contains("destination=red\\xe2\\x80\\xae\\xc2\\x85\\xc3\\xa9\\xef\\xbf\\xbd:80 ") }, "log:\n\(text)")
        #expect(!text.contains("\u{1b}") && !text.contains("\r") && !text.contains("\u{7f}") && !text.contains("\u{202E}"))
        #expect(text.split(separator: "\n").allSatisfy { $0.first?.isNumber == true }, "every line is a log line; log:\n\(text)")
    }

    @Test func aStuckLogOutputDoesNotDelaySessions() async throws {
        let log = try LogPipe(capacity: 16, stuck: true)
        let harness = try ServerHarness { $0.logger = log.logger() }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let sessions = 40
        // Each session logs at least two lines (debug request, info access line): far more than 16.
        // A bound on a stall, not a speed test: 40 sessions took over 20 s once under AddressSanitizer
        // on a loaded machine.
        try await withDeadline(.seconds(90)) { [address = harness.address] in
            for index in 0..<sessions {
                let (client, reply) = try await SOCKSTestClient.open(address, to: SOCKSEndpoint(echo.address))
                #expect(reply.code == .succeeded)
                try await client.send([UInt8(index)])
                #expect(try await client.receive(exactly: 1) == [UInt8(index)])
                client.close()
            }
        }
        await harness.stop()  // every session has ended and logged
        let dropped = log.writer.droppedLines
        #expect(dropped >= sessions, "lines past the queue are dropped and counted")
        #expect(harness.server.configuration.logger.droppedLines == dropped)

        // Once the output moves again, the held lines come out, then the count of the dropped ones.
        let text = await log.drain()
        log.close()
        let reported = text.split(separator: "\n").compactMap { line -> Int? in
            guard line.hasSuffix("log lines dropped: the log output could not keep up") else { return nil }
            return Int(line.split(separator: " ")[2])
        }
        #expect(reported.reduce(0, +) == dropped, "log:\n\(text)")
    }
}
