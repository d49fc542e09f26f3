import Foundation
import Glibc

/// Counts this process's descriptors that are TCP sockets bound to one local port (the listener and the
/// connections it accepted), or UDP sockets bound to one port (a relay's socket), and nothing of any other test running beside (Swift Testing runs tests in
/// parallel in this process, so a plain count of `/proc/self/fd` moves with theirs).
///
/// `/proc/net/tcp` and `tcp6` give each socket's local port and inode; `/proc/self/fd` links to
/// `socket:[INODE]` for the sockets this process holds. Sockets only the kernel still holds (TIME_WAIT)
/// have inode 0 and no descriptor, and are not counted.
enum SocketCensus {
    /// The kernel's socket tables: TCP, or UDP (`/proc/net/udp` has the same columns).
    enum Transport {
        case tcp, udp

        var tables: [String] {
            switch self {
            case .tcp: ["/proc/net/tcp", "/proc/net/tcp6"]
            case .udp: ["/proc/net/udp", "/proc/net/udp6"]
            }
        }
    }

    /// This process's descriptors that are `transport` sockets bound to local port `port` (and, with
    /// `remotePort`, connected to a peer on that port: one connection, whatever else reaches the port).
    static func descriptors(onLocalPort port: UInt16, remotePort: UInt16? = nil, _ transport: Transport = .tcp) -> Int {
        let inodes = socketInodes(onLocalPort: port, remotePort: remotePort, transport)
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

    /// The inodes of the `transport` sockets whose local address has `port` (and remote address
    /// `remotePort`, if given).
    private static func socketInodes(onLocalPort port: UInt16, remotePort: UInt16?, _ transport: Transport) -> Set<String> {
        var inodes = Set<String>()
        let hexPort = String(format: "%04X", port)
        for table in transport.tables {
            // Read to the end: a /proc file has no size, and a single read returns only its first page.
            guard let handle = FileHandle(forReadingAtPath: table) else { continue }
            defer { try? handle.close() }
            let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[1].hasSuffix(":\(hexPort)"), fields[9] != "0" else { continue }
                if let remotePort, !fields[2].hasSuffix(String(format: ":%04X", remotePort)) { continue }
                inodes.insert(String(fields[9]))
            }
        }
        return inodes
    }
}
