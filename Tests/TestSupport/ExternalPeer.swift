import AsyncSockets
import Foundation
import Glibc
import Testing

/// A peer program from Debian (danted, microsocks) run by a test on a free loopback port.
package final class ExternalPeer: Sendable {
    let process: ChildProcess
    package let port: UInt16
    let logPath: String

    /// Starts `path` with the arguments `makeArguments(port)` builds, on a port that was free a moment ago,
    /// and waits until the program listens on it (seen in /proc: a connection to probe the port could land
    /// in another test's server that took it meanwhile). A program that exits first, most likely because
    /// the port was taken, is started again on another port, up to three times.
    ///
    /// - Throws: when the program is not installed (`.ci/run` installs it) or never starts listening.
    package init(_ path: String, package: String, makeArguments: (UInt16) throws -> [String]) async throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(path) is not installed: run .ci/run, or apt-get install \(package)")
            throw SocketError.nameNotFound(path)
        }
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("peer-\(UUID().uuidString).log").path
        var started: (ChildProcess, UInt16)?
        var attempt = 0
        while started == nil && attempt < 3 {
            attempt += 1
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let candidate = try LoopbackPeers.freePort()
            let process = try ChildProcess(path, try makeArguments(candidate), outputPath: logPath)
            if await ListeningSockets.waitUntil(process, listensOn: [candidate], within: .seconds(10)) {
                started = (process, candidate)
            } else if process.isRunning {
                process.signal(SIGKILL)
                _ = process.isRunning
                break  // running but not listening within 10 s: not a port clash
            }
        }
        guard let (process, port) = started else {
            let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: logPath)
            Issue.record("\(path) did not start listening (\(attempt) attempt(s)); its output:\n\(output)")
            throw SocketError.timedOut
        }
        self.process = process
        self.port = port
    }

    package var address: SocketAddress { SocketAddress(ip: .ipv4Loopback, port: port) }

    package var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Stops the peer (SIGKILL: a peer's own shutdown is not under test) and reaps it.
    package func stop() {
        process.signal(SIGKILL)
        _ = process.isRunning
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}
