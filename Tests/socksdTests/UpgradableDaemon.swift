import AsyncSockets
import Foundation
import Glibc
import Testing
import TestSupport

/// A socksd started from a copy of the binary in a temporary directory, so that a test can replace that
/// file (by a rename, as an install does) and send SIGUSR2: the new process runs whatever is there then.
/// Both processes write to the one log (the new one inherits standard error).
final class UpgradableDaemon: Sendable {
    let directory: TemporaryDirectory
    let daemon: DaemonProcess
    var executable: String { directory.file("socksd") }

    init(_ arguments: [String]) async throws {
        directory = try TemporaryDirectory(name: "socksd-upgrade")
        try Self.writeExecutable(try Self.binary(), to: directory.file("socksd"))
        // ETXTBSY: a program another test starts at this moment forks this process, and until it execs, it
        // holds whatever this process had open, the copy's descriptor too. It passes in microseconds.
        var attempt = 0
        while true {
            do {
                daemon = try DaemonProcess(arguments, executable: directory.file("socksd"))
                break
            } catch let error as NSError where error.code == Int(ETXTBSY) && attempt < 100 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    static func binary() throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: DaemonProcess.binaryPath)))
    }

    /// Writes `bytes` to a new executable file at `path` through a close-on-exec descriptor, so that a
    /// program started meanwhile does not keep it open for writing (ETXTBSY when it is run).
    static func writeExecutable(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            // The pointer lives only inside the closure, and `written` stays below the array's count.
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            written += result
        }
    }

    /// Puts a fresh copy of the binary — or, with `script`, a shell script — where the daemon was started
    /// from, by writing it aside and renaming it over (the running file is never written to).
    ///
    /// It returns once no process holds the new file open for writing. The copy's descriptor is
    /// close-on-exec, but a program that another test starts while it is being written is forked from this
    /// process and holds it until it execs; the daemon's exec of the file would fail with ETXTBSY meanwhile.
    func replaceExecutable(script: String? = nil) async throws {
        let aside = directory.file("socksd.new")
        try Self.writeExecutable(script.map { Array($0.utf8) } ?? Self.binary(), to: aside)
        guard rename(aside, executable) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        for _ in 0..<500 where !Self.nobodyWrites(executable) {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Whether no process has `path` open for writing: the kernel grants a read lease only then
    /// (`F_SETLEASE` fails with `EAGAIN` while a writer holds the file).
    static func nobodyWrites(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // F_SETLEASE (F_LINUX_SPECIFIC_BASE + 0), which the Glibc module leaves out (it needs _GNU_SOURCE).
        let setLease: Int32 = 1024
        guard fcntl(fd, setLease, Int32(F_RDLCK)) == 0 else { return false }
        _ = fcntl(fd, setLease, Int32(F_UNLCK))
        return true
    }

    /// Sends SIGUSR2 once the daemon handles it.
    func requestUpgrade() async {
        _ = await daemon.waitUntilCatching(SIGUSR2)
        daemon.signal(SIGUSR2)
    }

    /// Waits for `upgrade: process PID is serving; draining N open sessions` and returns PID and N; nil
    /// after `timeout`, or once there are more than `earlierFailures` `upgrade failed` lines.
    func handOver(within timeout: Duration = .seconds(60), earlierFailures: Int = 0) async -> (pid: pid_t, draining: Int)? {
        _ = await daemon.waitForLog(within: timeout) { lines in
            lines.contains { Self.handOver(in: $0) != nil } || lines.filter { $0.contains(" error upgrade failed: ") }.count > earlierFailures
        }
        return daemon.logLines.lazy.compactMap { Self.handOver(in: $0) }.first
    }

    static func handOver(in line: Substring) -> (pid: pid_t, draining: Int)? {
        guard let start = line.range(of: " info upgrade: process ")?.upperBound else { return nil }
        let words = line[start...].split(separator: " ")
        guard words.count == 7, words[1] == "is", words[2] == "serving;", words[3] == "draining", words[5] == "open", words[6] == "sessions",
              let pid = pid_t(words[0]), let count = Int(words[4])
        else { return nil }
        return (pid, count)
    }

    /// The first `upgrade failed: ` line's reason.
    func failure(within timeout: Duration = .seconds(60)) async -> String? {
        let marker = " error upgrade failed: "
        _ = await daemon.waitForLog(within: timeout) { lines in lines.contains { $0.contains(marker) } }
        return daemon.logLines.first { $0.contains(marker) }.map { String($0[$0.range(of: marker)!.upperBound...]) }
    }
}
