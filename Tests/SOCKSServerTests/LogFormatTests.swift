import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport
@testable import SOCKSServer

/// The access line as text (unchanged) and as JSON, journald's priority prefixes, and the level changed at
/// run time.
@Suite struct LogFormatTests {
    static let client = SocketAddress(ip: IPAddress("192.0.2.7")!, port: 50123)

    /// The lines of `text` parsed as JSON objects; fails the test for a line that is not one.
    static func jsonObjects(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            return object
        }
    }

    @Test func theTextAccessLineIsUnchanged() throws {
        var record = SessionRecord(client: Self.client)
        #expect(record.accessEvent(endingAt: record.started + .microseconds(900)).text
            == "session client=192.0.2.7:50123 protocol=- user=- command=- destination=- via=- up=0 down=0 duration=0.0s outcome=handshake-incomplete")

        record.clientProtocol = .socks5
        record.user = Array("alice".utf8)
        record.command = .connect
        record.destination = SOCKSEndpoint(address: .domain("example.com"), port: 443)
        record.bytesUp = 1200
        record.bytesDown = 345_678
        record.outcome = .succeeded
        record.via = .upstream("office")
        #expect(record.accessEvent(endingAt: record.started + .milliseconds(1234)).text
            == "session client=192.0.2.7:50123 protocol=socks5 user=alice command=connect destination=example.com:443 via=office up=1200 down=345678 duration=1.234s outcome=succeeded")

        // UDP ASSOCIATE's dropped count comes before the duration; client-chosen values are escaped.
        record.clientProtocol = nil
        record.user = Array("a b=\"c\"\n-".utf8)
        record.command = .udpAssociate
        record.destination = SOCKSEndpoint(address: .ipv6([UInt8](repeating: 0, count: 15) + [1]), port: 0)
        record.datagramsDropped = 3
        record.outcome = .failed(.hostUnreachable)
        record.via = .direct
        #expect(record.accessEvent(endingAt: record.started + .seconds(61)).text
            == "session client=192.0.2.7:50123 protocol=- user=a\\x20b\\x3d\\x22c\\x22\\x0a- command=udp-associate destination=[0:0:0:0:0:0:0:1]:0 via=direct up=1200 down=345678 dropped=3 duration=61.0s outcome=failed(04 host unreachable)")

        for elapsed in [Duration.zero, .microseconds(999), .milliseconds(1), .milliseconds(12_345), .seconds(86_400)] {
            for dropped in [nil, 0, 17] {
                record.datagramsDropped = dropped
                let end = record.started + elapsed
                #expect(record.accessEvent(endingAt: end).text == Self.lineBeforeEvents(record, end: end))
            }
        }

        // Through a text writer the line is the timestamp, the level, then exactly that.
        let log = try LogPipe()
        log.logger().info(record.accessEvent(endingAt: record.started + .seconds(61)))
        let text = drained(log)
        log.close()
        let line = try #require(text.split(separator: "\n").first)
        let parts = line.split(separator: " ", maxSplits: 2)
        #expect(parts.count == 3 && parts[0].hasSuffix("Z") && parts[1] == "info")
        #expect(parts.last.map(String.init) == record.accessEvent(endingAt: record.started + .seconds(61)).text)
    }

    /// The access line as `SessionRecord.line` built it before it became an event: the text form must not
    /// change by a byte (but for the `protocol` field after `client`, added with SOCKS4 and HTTP,
    /// `userid` after `user` for SOCKS4, and `via` after `destination`, added with routing).
    static func lineBeforeEvents(_ record: SessionRecord, end: ContinuousClock.Instant) -> String {
        let elapsed = (end - record.started).components
        let milliseconds = elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
        let duration = Double(milliseconds) / 1000
        let user = record.user.map(SOCKSLogger.escapingFieldValue) ?? "-"
        let destination = record.destination.map { SOCKSLogger.escapingFieldValue($0.description) } ?? "-"
        let userID = record.socks4UserID.map { "userid=\($0.isEmpty ? "-" : SOCKSLogger.escapingFieldValue($0)) " } ?? ""
        return "session client=\(record.client) protocol=\(record.clientProtocol?.rawValue ?? "-") user=\(user) \(userID)command=\(record.command?.description ?? "-") "
            + "destination=\(destination) via=\(record.via?.description ?? "-") up=\(record.bytesUp) down=\(record.bytesDown) "
            + (record.datagramsDropped.map { "dropped=\($0) " } ?? "")
            + "duration=\(duration)s outcome=\(record.outcome)"
    }

    /// What `log` holds once its writer has written everything queued (the lines fit the pipe).
    private func drained(_ log: LogPipe) -> String {
        #expect(log.writer.flush(timeout: .seconds(10)))
        return log.readAvailable()
    }

    @Test func jsonLinesCarryTheAccessFieldsWithTheirTypes() throws {
        var record = SessionRecord(client: Self.client)
        record.clientProtocol = .socks5
        record.user = Array("alice".utf8)
        record.command = .connect
        record.destination = SOCKSEndpoint(address: .ipv4([198, 51, 100, 1]), port: 8080)
        record.bytesUp = 7
        record.bytesDown = 1 << 40
        record.datagramsDropped = 2
        record.outcome = .denied(AccessDenied(destination: "198.51.100.1:8080", reason: "rule 3"))
        var empty = SessionRecord(client: Self.client)
        empty.outcome = .authFailed

        let log = try LogPipe(format: .json)
        let logger = log.logger()
        logger.info(record.accessEvent(endingAt: record.started + .milliseconds(2500)))
        logger.info(empty.accessEvent(endingAt: empty.started + .milliseconds(5)))
        logger.warning("session 192.0.2.7:50123: connect failed")
        let text = drained(log)
        log.close()

        let objects = Self.jsonObjects(text)
        try #require(objects.count == 3, "log:\n\(text)")
        let full = objects[0]
        #expect(Set(full.keys) == ["time", "level", "event", "client", "protocol", "user", "command", "destination", "via", "up", "down", "dropped", "duration", "outcome"])
        #expect((full["time"] as? String)?.hasSuffix("Z") == true)
        #expect(full["level"] as? String == "info")
        #expect(full["event"] as? String == "session")
        #expect(full["client"] as? String == "192.0.2.7:50123")
        #expect(full["protocol"] as? String == "socks5")
        #expect(full["user"] as? String == "alice")
        #expect(full["command"] as? String == "connect")
        #expect(full["destination"] as? String == "198.51.100.1:8080")
        #expect(full["up"] as? Int == 7 && !(full["up"] is String))
        #expect(full["down"] as? Int == 1 << 40)
        #expect(full["dropped"] as? Int == 2)
        #expect(full["duration"] as? Double == 2.5 && !(full["duration"] is String))
        #expect(full["outcome"] as? String == "denied(rule 3)")
        // The members keep the text line's order.
        #expect(text.split(separator: "\n")[0].hasPrefix(#"{"time":""#))
        #expect(text.split(separator: "\n")[0].contains(#""level":"info","event":"session","client":"192.0.2.7:50123","protocol":"socks5","user":"alice","command":"connect","destination":"198.51.100.1:8080","via":null,"up":7,"down":1099511627776,"dropped":2,"duration":2.5,"outcome":"denied(rule 3)"}"#))

        // What the text line shows as `-` is null; `dropped` is there only for UDP ASSOCIATE.
        let bare = objects[1]
        #expect(bare["user"] is NSNull && bare["command"] is NSNull && bare["destination"] is NSNull)
        #expect(bare["dropped"] == nil)
        #expect(bare["duration"] as? Double == 0.005)
        #expect(bare["outcome"] as? String == "auth-failed")

        let message = objects[2]
        #expect(Set(message.keys) == ["time", "level", "message"])
        #expect(message["level"] as? String == "warning")
        #expect(message["message"] as? String == "session 192.0.2.7:50123: connect failed")
    }

    @Test func jsonEscapesEveryCharacterThatIsNotPrintableASCII() {
        var bytes: [UInt8] = []
        JSONLogEncoding.appendString("q\"b\\n\n\r\t\u{0}\u{1b}[31m\u{7f}é\u{202E}😀/", to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self)
            == #""q\"b\\n\u000a\u000d\u0009\u0000\u001b[31m\u007f\u00e9\u202e\ud83d\ude00/""#)
        bytes = []
        JSONLogEncoding.appendNumber(Double.nan, to: &bytes)
        JSONLogEncoding.appendNumber(0.001, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "null0.001")
    }

    /// A user name and a destination full of what breaks JSON or a terminal, from real sessions: each access
    /// line stays one valid JSON line of printable ASCII, and decodes to the client's values.
    @Test func hostileNamesStayOneValidJSONLine() async throws {
        let hostileUser = "ev\"il\\\nuser\u{1b}[2J é\u{202E}"
        // A name the parser takes (valid UTF-8) that JSON must escape, and that the rules refuse (an empty label).
        let hostileDomain = "a..é\u{FFFD}\u{202E}\u{85}"
        let log = try LogPipe(format: .json)
        let harness = try ServerHarness {
            $0.users = try UserDatabase([hostileUser: "pw"])
            $0.logger = log.logger()
        }
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let credentials = SOCKSCredentials(username: hostileUser, password: "pw")

        let (client, reply) = try await SOCKSTestClient.open(harness.address, to: SOCKSEndpoint(echo.address), credentials: credentials)
        #expect(reply.code == .succeeded)
        client.close()
        let (refusedName, failure) = try await SOCKSTestClient.open(
            harness.address, to: SOCKSEndpoint(address: .domain(hostileDomain), port: 80), credentials: credentials)
        #expect(failure.code == .notAllowed, "a name with an empty label is refused, and logged")
        refusedName.close()
        // A user name of bytes that are not UTF-8, refused.
        await #expect(throws: SOCKSTestClient.Failure.self) {
            try await SOCKSTestClient.open(
                harness.address, to: SOCKSEndpoint(echo.address),
                credentials: SOCKSCredentials(username: [0xFF, 0x22, 0x0A, 0xC3], password: Array("pw".utf8)))
        }
        var text = await log.read { $0.components(separatedBy: #""event":"session""#).count > 3 }
        await harness.stop()
        text += await log.drain()
        log.close()

        #expect(text.utf8.allSatisfy { $0 == 0x0A || (0x20..<0x7F).contains($0) }, "printable ASCII only:\n\(text)")
        let sessions = Self.jsonObjects(text).filter { $0["event"] as? String == "session" }
        try #require(sessions.count == 3, "log:\n\(text)")
        let succeeded = try #require(sessions.first { $0["outcome"] as? String == "succeeded" })
        #expect(succeeded["user"] as? String == hostileUser)
        #expect(succeeded["destination"] as? String == echo.address.description)
        let denied = try #require(sessions.first { ($0["outcome"] as? String)?.hasPrefix("denied(") == true })
        #expect(denied["user"] as? String == hostileUser)
        #expect(denied["destination"] as? String == "\(hostileDomain):80")
        let refused = try #require(sessions.first { $0["outcome"] as? String == "auth-failed" })
        #expect(refused["user"] as? String == #"\xff\x22\x0a\xc3"#, "bytes that are not UTF-8 are written escaped, as sent")
        for session in sessions {
            #expect(session["up"] is NSNumber && session["down"] is NSNumber && session["duration"] is NSNumber)
        }
    }

    @Test func journaldGetsPriorityPrefixesAndNoTimestamps() throws {
        for (format, expected) in [
            (LogFormat.text, ["<7>debug fine", "<6>info session client=192.0.2.7:50123 up=1", "<4>warning careful", "<3>error broken\\x0aline"]),
            (LogFormat.json, [
                #"<7>{"level":"debug","message":"fine"}"#, #"<6>{"level":"info","event":"session","client":"192.0.2.7:50123","up":1}"#,
                #"<4>{"level":"warning","message":"careful"}"#, #"<3>{"level":"error","message":"broken\\x0aline"}"#,
            ]),
        ] {
            let log = try LogPipe(format: format, priorityPrefixes: true)
            let logger = log.logger()
            logger.debug("fine")
            logger.info(LogEvent("session", fields: [.init("client", .text("192.0.2.7:50123")), .init("up", .integer(1))]))
            logger.warning("careful")
            logger.error("broken\nline")
            let text = drained(log)
            log.close()
            #expect(text.split(separator: "\n").map(String.init) == expected)
        }
    }

    @Test func journaldIsRecognisedOnlyWhenTheStreamMatches() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-journal-\(UUID().uuidString)").path
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(descriptor >= 0)
        defer {
            Glibc.close(descriptor)
            unlink(path)
        }
        var status = stat()
        try #require(fstat(descriptor, &status) == 0)
        let matching = "\(status.st_dev):\(status.st_ino)"
        #expect(JournalStream.matches(descriptor: descriptor, environment: ["JOURNAL_STREAM": matching]))
        #expect(!JournalStream.matches(descriptor: descriptor, environment: [:]))
        #expect(!JournalStream.matches(descriptor: descriptor, environment: ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino + 1)"]))
        #expect(!JournalStream.matches(descriptor: descriptor, environment: ["JOURNAL_STREAM": "\(status.st_dev)"]))
        #expect(!JournalStream.matches(descriptor: descriptor, environment: ["JOURNAL_STREAM": "x:\(status.st_ino)"]))
        #expect(!JournalStream.matches(descriptor: -1, environment: ["JOURNAL_STREAM": matching]))

        // `make` looks at standard error itself: only its own device and inode turn prefixes on.
        var standardError = stat()
        try #require(fstat(2, &standardError) == 0)
        let journal = try SOCKSLogger.make(
            level: .info, format: .text, destination: .standardError,
            environment: ["JOURNAL_STREAM": "\(standardError.st_dev):\(standardError.st_ino)"])
        #expect(journal.writer?.priorityPrefixes == true && journal.writer?.format == .text)
        #expect(journal.writer !== LogWriter.standardError)
        #expect(journal.writer?.close(timeout: .seconds(5)) == true)

        let elsewhere = try SOCKSLogger.make(level: .info, format: .text, destination: .standardError, environment: ["JOURNAL_STREAM": matching])
        #expect(elsewhere.writer === LogWriter.standardError, "plain text on standard error is the shared writer")
        let json = try SOCKSLogger.make(level: .info, format: .json, destination: .standardError, environment: [:])
        #expect(json.writer?.format == .json && json.writer?.priorityPrefixes == false)
        #expect(json.writer?.close(timeout: .seconds(5)) == true)
    }

    @Test func theLevelChangesAtRunTimeForEveryCopy() throws {
        let log = try LogPipe()
        let logger = log.logger(level: .info)
        // A copy, as the server's configuration and every session hold one.
        let copy = logger
        logger.debug("hidden 1")
        copy.setLevel(.debug)
        #expect(logger.level == .debug)
        logger.debug("shown 1")
        logger.setLevel(.error)
        #expect(copy.level == .error)
        copy.warning("hidden 2")
        logger.error("shown 2")
        let text = drained(log)
        log.close()
        let messages = text.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
        #expect(messages == ["debug shown 1", "error shown 2"], "log:\n\(text)")

        // A custom sink gets an event's text form, and nothing to reopen.
        let collector = LogCollector()
        let custom = collector.logger
        custom.info(LogEvent("session", fields: [.init("user", .clientText("a b")), .init("command", .absent)]))
        try custom.reopen()
        try SOCKSLogger.standardError(level: .info).reopen()
        #expect(collector.all == ["info session user=a\\x20b command=-"])
    }
}
