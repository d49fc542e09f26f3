import AsyncSockets
import Foundation
import Glibc

/// Which process listens on a TCP port, read from `/proc`: a test waits for a program it started to listen,
/// or for a listener to go, without connecting to the port. A port the test does not hold (one that was
/// free a moment ago, or one whose listener has closed) can be given meanwhile to a server of another test
/// running beside, which would take the probe for a client of its own and count it: a stray connection of
/// that kind made PROXY-protocol and access-log tests count one more than they made.
package enum ListeningSockets {
    /// The inodes of the TCP sockets in the LISTEN state on local port `port` (any address), from
    /// `/proc/net/tcp` and `tcp6`. Those tables are read a page at a time, not as one snapshot: with sockets
    /// opening and closing beside, a line can be missed, so use this in a condition that is waited for.
    package static func inodes(listeningOnPort port: UInt16) -> Set<String> {
        let wantedPort = ":" + String(format: "%04X", port)
        return listenerInodes(onPort: port) { $0.hasSuffix(wantedPort) }
    }

    /// The inodes of the TCP sockets listening on `address` exactly (another test may listen on the same
    /// port number at another address). Read from the TCP tables, as `inodes(listeningOnPort:)` is.
    package static func inodes(listeningOn address: SocketAddress) -> Set<String> {
        let wanted = Set(tableTexts(of: address))
        return listenerInodes(onPort: address.port) { wanted.contains(String($0)) }
    }

    /// The inodes of the rows in the LISTEN state (`0A`) on `port` whose local address `matches`.
    private static func listenerInodes(onPort port: UInt16, where matches: (Substring) -> Bool) -> Set<String> {
        var inodes = Set<String>()
        for fields in tcpTableRows(containing: ":\(String(format: "%04X", port)) ") where fields[3] == "0A" && matches(fields[1]) {
            inodes.insert(String(fields[9]))
        }
        return inodes
    }

    /// How the TCP tables print `address`: each 32-bit word of the address in the machine's byte order, in
    /// hex, then the port; an IPv4 address also as the IPv4-mapped IPv6 address of a dual-stack socket in
    /// `tcp6`.
    package static func tableTexts(of address: SocketAddress) -> [String] {
        let bytes = address.ip.bytes
        let words = stride(from: 0, to: bytes.count, by: 4).map { start in
            bytes[start..<start + 4].reversed().map { String(format: "%02X", $0) }.joined()
        }
        let port = String(format: "%04X", address.port)
        guard bytes.count == 4 else { return [words.joined() + ":" + port] }
        return [words[0] + ":" + port, "0000000000000000FFFF0000" + words[0] + ":" + port]
    }

    /// The rows of `/proc/net/tcp` and `tcp6` whose text contains `needle`, each split into its fields (local
    /// address, remote address and state are fields 1 to 3, the inode field 9); rows with fewer fields are
    /// left out. Only rows with the needle are split: while resource tests run beside, the tables hold tens of
    /// thousands of rows, and splitting them all took a test thread for a good part of a second per look
    /// under AddressSanitizer.
    package static func tcpTableRows(containing needle: String) -> [[Substring]] {
        let needleBytes = Array(needle.utf8)
        var rows: [[Substring]] = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            // Read to the end: a /proc file has no size, and a single read returns only its first page.
            guard let handle = FileHandle(forReadingAtPath: table) else { continue }
            defer { try? handle.close() }
            let bytes = [UInt8](handle.readDataToEndOfFile())
            // The needle's places, found by memchr and memcmp (a byte loop in a debug build is slower by far;
            // Glibc's module has no memmem). The pointers live only inside the two closures, which read the
            // arrays they come from, and every access stays below `text.count`.
            var places: [Int] = []
            bytes.withUnsafeBytes { text in
                needleBytes.withUnsafeBytes { needle in
                    guard let base = text.baseAddress, let wanted = needle.baseAddress, let first = needleBytes.first else { return }
                    var offset = 0
                    while offset + needle.count <= text.count,
                          let hit = memchr(base + offset, Int32(first), text.count - offset - needle.count + 1) {
                        let place = base.distance(to: UnsafeRawPointer(hit))
                        if memcmp(hit, wanted, needle.count) == 0 { places.append(place) }
                        offset = place + 1
                    }
                }
            }
            var lastLineStart = -1
            for place in places {
                let lineStart = bytes[..<place].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
                guard lineStart != lastLineStart else { continue }  // the needle twice in one row
                lastLineStart = lineStart
                let lineEnd = bytes[place...].firstIndex(of: 0x0A) ?? bytes.count
                let fields = String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self).split(separator: " ")
                if fields.count > 9 { rows.append(fields) }
            }
        }
        return rows
    }

    /// The inodes of the sockets that process `pid` and its descendants have open (Dante's listener may be
    /// held by a child). The descriptor table of a process changes only by its own doing, so unlike the
    /// TCP tables this listing misses nothing.
    package static func socketInodes(ofProcessTree pid: pid_t) -> Set<String> {
        var inodes = Set<String>()
        for process in processTree(of: pid) {
            let directory = "/proc/\(process)/fd"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                if let inode = socketInode(linkedAt: "\(directory)/\(name)") { inodes.insert(inode) }
            }
        }
        return inodes
    }

    /// The inode of the socket that the descriptor link at `path` (`/proc/PID/fd/N`) names, or nil for
    /// anything else.
    package static func socketInode(linkedAt path: String) -> String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path),
              target.hasPrefix("socket:["), target.hasSuffix("]")
        else { return nil }
        return String(target.dropFirst("socket:[".count).dropLast())
    }

    /// `pid` and its descendants, from the parent of every process in `/proc/*/stat` (which every kernel
    /// has; `/proc/*/task/*/children` needs `CONFIG_PROC_CHILDREN`).
    static func processTree(of pid: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let process = pid_t(name),
                  let stat = ProcessResources.readWhole("/proc/\(name)/stat"),
                  let end = stat.lastIndex(of: ")")
            else { continue }
            // "PID (COMMAND) STATE PPID ...": the command may hold spaces and parentheses, so read after the last ")".
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { continue }
            children[parent, default: []].append(process)
        }
        var tree: [pid_t] = []
        var pending = [pid]
        while let next = pending.popLast() {
            tree.append(next)
            pending += children[next] ?? []
        }
        return tree
    }

    /// The listeners on port `port` that process `pid` or one of its descendants holds.
    package static func inodes(listeningOnPort port: UInt16, heldBy pid: pid_t) -> Set<String> {
        inodes(listeningOnPort: port).intersection(socketInodes(ofProcessTree: pid))
    }

    /// The listeners on `address` that process `pid` or one of its descendants holds.
    package static func inodes(listeningOn address: SocketAddress, heldBy pid: pid_t) -> Set<String> {
        inodes(listeningOn: address).intersection(socketInodes(ofProcessTree: pid))
    }

    /// Whether none of the sockets `listeners` is listening on `port` any more: absent from two reads of the
    /// TCP tables in a row (one read may miss a line). A listener that was shut down leaves the tables at
    /// once, while its descriptor can stay open a while (socksd holds a removed listener's until the last
    /// session it accepted ends).
    package static func haveStopped(_ listeners: Set<String>, onPort port: UInt16) -> Bool {
        inodes(listeningOnPort: port).isDisjoint(with: listeners) && inodes(listeningOnPort: port).isDisjoint(with: listeners)
    }

    /// Waits until `process` (or a descendant) listens on every port of `ports`. False when it exits first
    /// (another process had taken a port, say) or `timeout` passes.
    package static func waitUntil(_ process: ChildProcess, listensOn ports: [UInt16], within timeout: Duration = .seconds(20)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && process.isRunning {
            if ports.allSatisfy({ !inodes(listeningOnPort: $0, heldBy: process.pid).isEmpty }) { return true }
            // A look reads the whole TCP tables (about 20 ms of kernel time with 10,000 sockets open beside).
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
