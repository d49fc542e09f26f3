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

    /// The `socket:[INODE]` of the TCP socket from `local` to `remote` (over IPv4), from `/proc/net/tcp`.
    static func tcpSocket(local: SocketAddress, remote: SocketAddress) -> String? {
        guard let table = ProcessResources.readWhole("/proc/net/tcp") else { return nil }
        func hex(_ address: SocketAddress) -> String {
            // The address as the kernel prints it: the four bytes of the IPv4 address as one little-endian
            // word, then the port.
            let bytes = address.ip.description.split(separator: ".").compactMap { UInt8($0) }
            return String(format: "%02X%02X%02X%02X:%04X", bytes[3], bytes[2], bytes[1], bytes[0], address.port)
        }
        let (wantedLocal, wantedRemote) = (hex(local), hex(remote))
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1] == wantedLocal, fields[2] == wantedRemote else { continue }
            return "socket:[\(fields[9])]"
        }
        return nil
    }

    /// The `socket:[INODE]` of the listening TCP socket on `address`.
    static func listeningSocket(_ address: SocketAddress) -> String? {
        tcpSocket(local: address, remote: SocketAddress(ip: .ipv4Any, port: 0))
    }
}
