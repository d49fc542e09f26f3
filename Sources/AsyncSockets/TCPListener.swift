import CEpoll
import Glibc

/// A listening TCP socket whose accepted connections arrive as an `AsyncSequence`.
package final class TCPListener: Sendable {
    let descriptor: SocketDescriptor

    /// The address the socket is bound to, with the real port when port 0 was asked for.
    package let localAddress: SocketAddress

    /// Binds and listens. An IPv6 listener is IPv6-only, so `[::]` and `0.0.0.0` can be bound side by side.
    ///
    /// - Parameter loop: the loop that watches the listener (and so the connections it accepts); default:
    ///   chosen as for any new socket.
    /// - Throws: `SocketError.failed` with `EADDRINUSE` when the port is taken.
    package init(bindingTo address: SocketAddress, backlog: Int32 = 1024, loop: EventLoop? = nil) throws(SocketError) {
        // Shared: `sharing(on:)` may dup it, so its epoll registration is removed explicitly.
        let descriptor = try SocketDescriptor(family: address.family, type: Int32(SOCK_STREAM.rawValue), loop: loop, isShared: true)
        try descriptor.setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        if address.ip.isIPv6 {
            try descriptor.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: 1)
        }
        // Accepted sockets inherit it (Linux copies the listener's TCP options): no setsockopt per connection.
        try descriptor.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        try descriptor.bind(to: address)
        if Glibc.listen(descriptor.fd, backlog) != 0 {
            throw .failed(operation: "listen \(address)", errno: .current)
        }
        guard let local = descriptor.localAddress else { throw .failed(operation: "getsockname", errno: .current) }
        self.descriptor = descriptor
        self.localAddress = local
    }

    /// Accepts one connection, waiting until a client connects.
    ///
    /// - Throws: `SocketError.closed` after `close()`; `SocketError.failed` with `EMFILE`, `ENFILE`,
    ///   `ENOBUFS` or `ENOMEM` when the process is out of descriptors or memory (the `connections` sequence
    ///   backs off and retries on those). `EMFILE` also when only the `DescriptorReserve` is left: the
    ///   connection taken from the backlog is then closed.
    ///
    /// - Parameter loop: picks the loop that will watch the new connection; default: this listener's.
    package func accept(assigningLoop loop: (@Sendable () -> EventLoop)? = nil) async throws -> TCPConnection {
        while true {
            var peer: SocketAddress?
            let fd: Int32
            do {
                fd = try await descriptor.perform(.read, operation: "accept") {
                    // Within the reserve, the connection is closed at once and the accept reports EMFILE:
                    // the caller backs off as for a full table.
                    let (fd, address) = SocketAddress.reading { DescriptorReserve.admit(cepoll_accept(descriptor.fd, $0, $1)) }
                    peer = address
                    return fd
                }
            } catch let error as SocketError {
                // A connection that died in the backlog is not the listener's failure.
                if case .failed(_, let errno) = error, errno == .connectionAborted { continue }
                // A listening socket shut down through another of its shared descriptors (another loop's
                // listener closed first) answers EINVAL: for this one too the listener is closed.
                if case .failed(_, let errno) = error, errno == Errno(rawValue: EINVAL) { throw SocketError.closed }
                throw error
            }
            do {
                // By default an accepted connection joins its listener's loop, where the accepting task runs.
                let target = loop?() ?? descriptor.loop
                return try TCPConnection(descriptor: try SocketDescriptor(adopting: fd, loop: target), remoteAddress: peer, inheritsNoDelay: true)
            } catch {
                continue  // reset between accept and getsockname: skip it
            }
        }
    }

    init(descriptor: SocketDescriptor, localAddress: SocketAddress) {
        self.descriptor = descriptor
        self.localAddress = localAddress
    }

    /// Another listener on the same listening socket (a `dup` of its descriptor), watched by `loop`.
    ///
    /// Each loop can then accept from the one queue of connections on its own thread (the accepted socket
    /// goes to the loop that `connections(assigningLoop:)` names). Closing any of them stops them all: they
    /// are one socket.
    package func sharing(on loop: EventLoop) throws(SocketError) -> TCPListener {
        let fd = DescriptorReserve.admit(fcntl(descriptor.fd, F_DUPFD_CLOEXEC, 0))
        guard fd >= 0 else { throw .failed(operation: "dup", errno: .current) }
        return TCPListener(descriptor: try SocketDescriptor(adopting: fd, loop: loop, isShared: true), localAddress: localAddress)
    }

    /// The loop that watches this listener and the connections it accepts.
    package var eventLoop: EventLoop { descriptor.loop }

    /// Stops listening; a task waiting in `accept()` wakes with `SocketError.closed`, and iteration ends.
    package func close() {
        descriptor.close()
    }
}
