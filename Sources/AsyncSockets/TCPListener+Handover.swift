import CEpoll
import Glibc

extension TCPListener {
    /// Takes over a listening socket another process passed on (systemd's socket activation, or the
    /// previous socksd during an upgrade): makes it nonblocking and close-on-exec, and watches it on `loop`.
    ///
    /// - Throws: `SocketError.failed` when `fd` is not a listening stream socket (`ENOTSOCK`, `EINVAL`);
    ///   the descriptor is closed then too, so that it cannot be used by mistake.
    package convenience init(adopting fd: Int32, loop: EventLoop? = nil) throws(SocketError) {
        func fail(_ operation: String, _ errno: Errno) -> SocketError {
            Glibc.close(fd)
            return .failed(operation: operation, errno: errno)
        }
        var type: Int32 = 0
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { throw fail("getsockopt(SO_TYPE) of descriptor \(fd)", .current) }
        length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 else {
            throw fail("getsockopt(SO_ACCEPTCONN) of descriptor \(fd)", .current)
        }
        guard type == Int32(SOCK_STREAM.rawValue), listening != 0 else {
            throw fail("adopt descriptor \(fd) (not a listening TCP socket)", Errno(rawValue: EINVAL))
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else {
            throw fail("fcntl of descriptor \(fd)", .current)
        }
        guard let local = SocketAddress.reading({ getsockname(fd, $0, $1) }).1 else { throw fail("getsockname", .current) }
        // Shared like a bound listener: `sharing(on:)` dups it for the other loops.
        self.init(descriptor: try SocketDescriptor(adopting: fd, loop: loop, isShared: true), localAddress: local)
    }

    /// A new descriptor of this listening socket for another process: close-on-exec, numbered `minimum` or
    /// above (so that it can be moved to a low number in the new process without clashing). The caller owns
    /// it and closes it.
    package func duplicateDescriptor(atLeast minimum: Int32) throws(SocketError) -> Int32 {
        let fd = fcntl(descriptor.fd, F_DUPFD_CLOEXEC, minimum)
        guard fd >= 0 else { throw .failed(operation: "dup", errno: .current) }
        return fd
    }

    /// Stops accepting in this process while the socket goes on listening for the other processes that
    /// hold it (the new socksd of an upgrade): unlike `close()`, no `shutdown`. A task waiting in `accept()`
    /// wakes with `SocketError.closed`; call `acceptPending()` after that for the connections whose wake-up
    /// came to this process.
    package func release() {
        descriptor.release()
    }

    /// The connections waiting in the queue now, accepted without waiting; after `release()`, those whose
    /// readiness woke this process before it left epoll (the other process was not woken for them, so
    /// nobody else would take them until the next connection). Empty for a socket that was shut down.
    package func acceptPending(assigningLoop loop: (@Sendable () -> EventLoop)? = nil) -> [TCPConnection] {
        var accepted: [TCPConnection] = []
        while true {
            let (fd, peer) = SocketAddress.reading { DescriptorReserve.admit(cepoll_accept(descriptor.fd, $0, $1)) }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return accepted
            }
            guard let connection = try? TCPConnection(
                descriptor: try SocketDescriptor(adopting: fd, loop: loop?() ?? descriptor.loop), remoteAddress: peer, inheritsNoDelay: true)
            else { continue }
            accepted.append(connection)
        }
    }
}
