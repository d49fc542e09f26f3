import AsyncSockets
import Foundation
import Glibc
import TestSupport

/// Counts this process's descriptors that are TCP sockets bound to one local port (the listener and the
/// connections it accepted; with a remote port, one connection), or UDP sockets bound to one port (a
/// relay's socket), and nothing of any other test running beside (Swift Testing runs tests in
/// parallel in this process, so a plain count of `/proc/self/fd` moves with theirs).
///
/// Each socket descriptor in `/proc/self/fd` is asked for its type and local address (`getsockopt`,
/// `getsockname`). That is exact whatever else the process holds: reading `/proc/net/tcp` instead is not
/// atomic, and with thousands of sockets opening and closing beside (the resource tests) a page boundary
/// could drop or repeat the line of a socket this census was after. Sockets only the kernel still holds
/// (TIME_WAIT) have no descriptor, and are not counted; nor are sockets in the CLOSE state, such as a
/// listener that was shut down (`close()` shuts a socket down at once, and its descriptor number is released
/// when its last user lets go of it): the kernel's TCP tables have dropped those too.
enum SocketCensus {
    /// Which sockets are counted.
    enum Transport {
        case tcp, udp

        var socketType: Int32 {
            switch self {
            case .tcp: Int32(SOCK_STREAM.rawValue)
            case .udp: Int32(SOCK_DGRAM.rawValue)
            }
        }
    }

    /// This process's descriptors that are `transport` sockets bound to local port `port` (and, with
    /// `remotePort`, connected to a peer on that port: one connection, whatever else shares the port
    /// number, such as a client socket of another test bound to 127.0.0.2).
    static func descriptors(onLocalPort port: UInt16, remotePort: UInt16? = nil, _ transport: Transport = .tcp) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
        var count = 0
        for name in names {
            guard let descriptor = Int32(name), socketType(of: descriptor) == transport.socketType,
                  transport == .udp || !isClosed(descriptor), self.port(of: descriptor, .local) == port,
                  remotePort == nil || self.port(of: descriptor, .remote) == remotePort
            else {
                continue
            }
            count += 1
        }
        return count
    }

    /// This process's TCP sockets connected, or connecting, to the IPv4 address `peer`: a relay's connection
    /// to its target, a dial still pending. A connecting socket has no peer name yet, so the remote addresses
    /// come from `/proc/net/tcp` and `tcp6` (by inode), which with thousands of sockets churning beside may
    /// miss a line now and then: use this count in a condition that is waited for.
    static func descriptors(connectedTo peer: SocketAddress) -> Int {
        let inodes = socketInodes(connectedTo: peer)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return -1 }
        var count = 0
        for name in names {
            guard let descriptor = Int32(name), socketType(of: descriptor) == Transport.tcp.socketType, !isClosed(descriptor),
                  let inode = ListeningSockets.socketInode(linkedAt: "/proc/self/fd/\(name)"), inodes.contains(inode)
            else { continue }
            count += 1
        }
        return count
    }

    /// The inodes of this process's open TCP sockets bound to `address` that have no peer: listeners. A
    /// test that must see a listener go looks for its socket, not for a refused connection to its port:
    /// another test running beside may have been given that port by then, and would take the connection
    /// for a client of its own. The whole address is compared, not the port alone: another test's listener
    /// may have the same port number on another address (127.0.0.2, ::1).
    static func listenerInodes(on address: SocketAddress) -> Set<String> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return [] }
        var inodes = Set<String>()
        for name in names {
            guard let descriptor = Int32(name), socketType(of: descriptor) == Transport.tcp.socketType, !isClosed(descriptor),
                  localAddress(of: descriptor) == address, self.port(of: descriptor, .remote) == nil,
                  let inode = ListeningSockets.socketInode(linkedAt: "/proc/self/fd/\(name)")
            else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// The local address of a socket (`getsockname`), or nil.
    private static func localAddress(of descriptor: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // getsockname writes at most `length` bytes into the storage, which is large enough for any family.
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0 else { return nil }
        return SocketAddress(storage: storage)
    }

    /// The inodes of the TCP sockets whose remote address is the IPv4 address `peer` (in `tcp6`, mapped).
    private static func socketInodes(connectedTo peer: SocketAddress) -> Set<String> {
        guard peer.ip.isIPv4 else { return [] }
        let texts = ListeningSockets.tableTexts(of: peer)
        let wanted = Set(texts)
        var inodes = Set<String>()
        for fields in ListeningSockets.tcpTableRows(containing: texts[0]) where wanted.contains(String(fields[2])) && fields[9] != "0" {
            inodes.insert(String(fields[9]))
        }
        return inodes
    }

    /// The socket type of `descriptor` (`SOCK_STREAM`, `SOCK_DGRAM`), or nil for no socket (a descriptor
    /// closed and reused meanwhile answers for what it is now, which is what a later look would see too).
    /// Only IPv4 and IPv6 sockets have a port, which `port(of:_:)` checks.
    private static func socketType(of descriptor: Int32) -> Int32? {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { return nil }
        return type
    }

    /// A socket's two ends.
    private enum End { case local, remote }

    /// Whether a TCP socket is in the CLOSE state: `tcp_info`'s first byte is the state, 7 (`TCP_CLOSE`).
    private static func isClosed(_ descriptor: Int32) -> Bool {
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        guard getsockopt(descriptor, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0, length > 0 else { return true }
        return info[0] == 7
    }

    /// The local or remote port of an IPv4 or IPv6 socket, or nil.
    private static func port(of descriptor: Int32, _ end: End) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // getsockname and getpeername write at most `length` bytes into the storage, which is large
        // enough for any family.
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                switch end {
                case .local: getsockname(descriptor, address, &length)
                case .remote: getpeername(descriptor, address, &length)
                }
            }
        }
        guard result == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
        default:
            return nil
        }
    }
}
