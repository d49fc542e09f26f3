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
        let wantedPort = String(format: "%04X", port)
        var inodes = Set<String>()
        for fields in tcpTableRows(containing: ":\(wantedPort) ") where fields[3] == "0A" && fields[1].hasSuffix(":\(wantedPort)") {
            inodes.insert(String(fields[9]))
        }
        return inodes
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
        var pending = [pid]
        while let next = pending.popLast() {
            let directory = "/proc/\(next)/fd"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
                      target.hasPrefix("socket:["), target.hasSuffix("]")
                else { continue }
                inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
            }
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(next)/task")) ?? []
            for task in tasks {
                let children = (try? String(contentsOfFile: "/proc/\(next)/task/\(task)/children", encoding: .utf8)) ?? ""
                pending += children.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
        }
        return inodes
    }

    /// The listeners on port `port` that process `pid` or one of its descendants holds.
    package static func inodes(listeningOnPort port: UInt16, heldBy pid: pid_t) -> Set<String> {
        inodes(listeningOnPort: port).intersection(socketInodes(ofProcessTree: pid))
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
