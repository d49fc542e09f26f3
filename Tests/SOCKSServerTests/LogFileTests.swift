import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// `--log-file`: a file opened for append, and reopened after logrotate renamed it.
@Suite struct LogFileTests {
    /// A fresh directory under the system's temporary directory, removed by `remove()`.
    struct TemporaryDirectory {
        let path: String

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-logfile-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        func file(_ name: String) -> String { path + "/" + name }

        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The messages (after the timestamp and level) of the text lines in the file at `path`.
    static func messages(in path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 2)
            return parts.count == 3 ? String(parts[2]) : "unparsed: \(line)"
        }
    }

    @Test func aLogFileIsAppendedToAndReopenedAfterARename() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("socksd.log")
        try "2026-01-01T00:00:00Z info an earlier run\n".write(toFile: path, atomically: false, encoding: .utf8)

        let logger = try SOCKSLogger.make(level: .info, format: .text, destination: .file(path), environment: [:])
        let writer = try #require(logger.writer)
        #expect(writer.path == path)
        for index in 1...100 { logger.info("line \(index)") }
        // logrotate: rename, then tell the daemon. Lines logged in between still belong to the old file.
        try #require(rename(path, directory.file("socksd.log.1")) == 0)
        logger.info("line 101")
        try logger.reopen()
        for index in 102...200 { logger.info("line \(index)") }
        #expect(logger.flush(timeout: .seconds(10)))

        #expect(try Self.messages(in: directory.file("socksd.log.1")) == ["an earlier run"] + (1...101).map { "line \($0)" })
        #expect(try Self.messages(in: path) == (102...200).map { "line \($0)" })
        #expect(writer.close(timeout: .seconds(5)))

        // Created with mode 0640 at most (less the umask), so the log is not world-readable.
        let created = directory.file("new.log")
        let other = try SOCKSLogger.make(level: .info, format: .json, destination: .file(created), environment: [:])
        var status = stat()
        try #require(stat(created, &status) == 0)
        #expect(status.st_mode & 0o777 & ~0o640 == 0 && status.st_mode & 0o600 == 0o600)
        #expect(other.writer?.close(timeout: .seconds(5)) == true)
    }

    /// Lines logged without pause while the file is rotated five times: every line is in exactly one file,
    /// in order, and a line logged before a reopen is never in a later file.
    @Test func rotatingUnderLoadLosesAndDuplicatesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("socksd.log")
        let writer = try LogWriter(path: path, capacity: 1_000_000)
        let logger = SOCKSLogger(level: .info, writer: writer)
        let rotations = 5, linesBetween = 500
        final class Progress: Sendable {
            let logged = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
        }
        let progress = Progress()
        // Logs until told to stop, so that every reopen below happens while lines are being logged.
        let producer = Task.detached {
            var index = 0
            while !progress.stop.load(ordering: .acquiring) {
                index += 1
                logger.info("line \(index)")
                progress.logged.store(index, ordering: .releasing)
                if index % 50 == 0 { await Task.yield() }
            }
        }
        var loggedBeforeReopen: [Int] = []
        for rotation in 1...rotations {
            let target = (loggedBeforeReopen.last ?? 0) + linesBetween
            #expect(await eventually(.seconds(20)) { progress.logged.load(ordering: .acquiring) >= target })
            try #require(rename(path, directory.file("socksd.log.\(rotation)")) == 0)
            loggedBeforeReopen.append(progress.logged.load(ordering: .acquiring))
            try logger.reopen()
        }
        let target = loggedBeforeReopen[rotations - 1] + linesBetween
        #expect(await eventually(.seconds(20)) { progress.logged.load(ordering: .acquiring) >= target })
        progress.stop.store(true, ordering: .releasing)
        await producer.value
        let total = progress.logged.load(ordering: .acquiring)
        #expect(logger.flush(timeout: .seconds(10)))
        #expect(writer.close(timeout: .seconds(5)))
        #expect(writer.droppedLines == 0)

        let files = (1...rotations).map { directory.file("socksd.log.\($0)") } + [path]
        var all: [String] = []
        for (index, file) in files.enumerated() {
            let messages = try Self.messages(in: file)
            if index < rotations {
                let last = messages.last.flatMap { Int($0.dropFirst("line ".count)) } ?? 0
                #expect(last >= loggedBeforeReopen[index], "lines logged before reopen \(index + 1) are in the old file")
            }
            all += messages
        }
        #expect(!(try Self.messages(in: path)).isEmpty, "lines logged after the last reopen are in the new file")
        #expect(all == (1...total).map { "line \($0)" }, "\(all.count) of \(total) lines in \(files.count) files")
    }

    @Test func aFailedReopenKeepsTheOldFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.file("logs"), withIntermediateDirectories: false)
        let path = directory.file("logs/socksd.log")
        let logger = try SOCKSLogger.make(level: .info, format: .text, destination: .file(path), environment: [:])
        logger.info("before")
        // The directory goes away: the path cannot be opened again.
        try #require(rename(directory.file("logs"), directory.file("gone")) == 0)
        #expect(throws: LogFileError.self) { try logger.reopen() }
        logger.info("after")
        #expect(logger.flush(timeout: .seconds(10)))
        #expect(try Self.messages(in: directory.file("gone/socksd.log")) == ["before", "after"])
        #expect(logger.writer?.close(timeout: .seconds(5)) == true)

        // A file that cannot be opened at all is an error the daemon can print.
        #expect {
            try SOCKSLogger.make(level: .info, format: .text, destination: .file(directory.file("missing/socksd.log")), environment: [:])
        } throws: { error in
            "\(error)" == "cannot open log file '\(directory.file("missing/socksd.log"))': No such file or directory"
        }
    }
}
