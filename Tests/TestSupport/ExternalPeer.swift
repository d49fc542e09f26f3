import AsyncSockets
import Foundation
import Glibc
import Testing

/// A peer program from Debian (danted, microsocks) run by a test on a free loopback port.
package final class ExternalPeer: Sendable {
    let process: ChildProcess
    package let port: UInt16
    let logPath: String

    /// Starts `path` with the arguments `makeArguments(port)` builds, and waits until the port accepts.
    ///
    /// - Throws: when the program is not installed (`.ci/run` installs it) or never starts listening.
    package init(_ path: String, package: String, makeArguments: (UInt16) throws -> [String]) async throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(path) is not installed: run .ci/run, or apt-get install \(package)")
            throw SocketError.nameNotFound(path)
        }
        port = try LoopbackPeers.freePort()
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("peer-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = try ChildProcess(path, try makeArguments(port), outputPath: logPath)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let probe = try? await TCPConnection.connect(to: address) {
                probe.close()
                return
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(path) did not start listening on \(port); its output:\n\(self.log)")
        stop()
        throw SocketError.timedOut
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
