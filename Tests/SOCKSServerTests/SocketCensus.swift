import Foundation
import Glibc

/// Counts this process's descriptors that are TCP sockets on one port: bound to it locally (the listener and
/// the connections it accepted), or connected to it (a relay's connections to a target), and nothing of any
/// other test running beside (Swift Testing runs tests in
/// parallel in this process, so a plain count of `/proc/self/fd` moves with theirs).
///
/// `/proc/net/tcp` and `tcp6` give each socket's local port and inode; `/proc/self/fd` links to
/// `socket:[INODE]` for the sockets this process holds. Sockets only the kernel still holds (TIME_WAIT)
/// have inode 0 and no descriptor, and are not counted.
enum SocketCensus {
    static func descriptors(onLocalPort port: UInt16) -> Int {
        descriptors(of: socketInodes(onPort: port, field: localAddressField))
    }

    /// This process's TCP sockets connected to `port` elsewhere (a relay's connections to a target).
    static func descriptors(onRemotePort port: UInt16) -> Int {
        descriptors(of: socketInodes(onPort: port, field: remoteAddressField))
    }

    /// Fields of a `/proc/net/tcp` line.
    private static let localAddressField = 1
    private static let remoteAddressField = 2

    private static func descriptors(of inodes: Set<String>) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
        var count = 0
        for name in names {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)"),
                  target.hasPrefix("socket:["), target.hasSuffix("]")
            else { continue }
            if inodes.contains(String(target.dropFirst("socket:[".count).dropLast())) { count += 1 }
        }
        return count
    }

    /// The inodes of the TCP sockets whose local or remote address (`field`) has `port`.
    private static func socketInodes(onPort port: UInt16, field: Int) -> Set<String> {
        var inodes = Set<String>()
        let hexPort = String(format: "%04X", port)
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            // Read to the end: a /proc file has no size, and a single read returns only its first page.
            guard let handle = FileHandle(forReadingAtPath: table) else { continue }
            defer { try? handle.close() }
            let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[field].hasSuffix(":\(hexPort)"), fields[9] != "0" else { continue }
                inodes.insert(String(fields[9]))
            }
        }
        return inodes
    }
}
