import AsyncSockets
import Foundation
import Glibc
import TestSupport

/// What `/proc` says about processes the tests did not start themselves (the new socksd of an upgrade).
enum ProcessTable {
    /// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = ProcessResources.readWhole("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    /// Stops `pid` (SIGTERM, then SIGKILL after `grace`); returns whether it had to be killed.
    @discardableResult
    static func stop(_ pid: pid_t, grace: Duration = .seconds(20)) async -> Bool {
        guard isRunning(pid) else { return false }
        Glibc.kill(pid, SIGTERM)
        if await eventually(grace, { !isRunning(pid) }) { return false }
        Glibc.kill(pid, SIGKILL)
        _ = await eventually(.seconds(10)) { !isRunning(pid) }
        return true
    }

    /// Kills `pid` if it still runs: what a test leaves behind when it stops early must not outlive it.
    static func kill(_ pid: pid_t) {
        if isRunning(pid) { _ = Glibc.kill(pid, SIGKILL) }
    }

    /// The sockets and pipes a process holds beyond standard input, output and error: `socket:[INODE]`,
    /// `pipe:[INODE]`, each with how many of its descriptors refer to it.
    static func sharableDescriptors(of pid: pid_t) -> [String: Int] {
        let directory = "/proc/\(pid)/fd"
        var targets: [String: Int] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let fd = Int(name), fd > 2, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
                  target.hasPrefix("socket:") || target.hasPrefix("pipe:")
            else { continue }
            targets[target, default: 0] += 1
        }
        return targets
    }

    /// The `socket:[INODE]` of the TCP socket from `local` to `remote`, from `/proc/net/tcp` and `tcp6`.
    static func tcpSocket(local: SocketAddress, remote: SocketAddress) -> String? {
        let locals = ListeningSockets.tableTexts(of: local), remotes = Set(ListeningSockets.tableTexts(of: remote))
        let row = ListeningSockets.tcpTableRows(containing: locals[0]).first { locals.contains(String($0[1])) && remotes.contains(String($0[2])) }
        return row.map { "socket:[\($0[9])]" }
    }

    /// The `socket:[INODE]` of the listening TCP socket on `address`.
    static func listeningSocket(_ address: SocketAddress) -> String? {
        ListeningSockets.inodes(listeningOn: address).first.map { "socket:[\($0)]" }
    }
}
