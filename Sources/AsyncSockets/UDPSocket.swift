import CEpoll
import Glibc

/// A nonblocking UDP socket with async send and receive.
package final class UDPSocket: Sendable {
    let descriptor: SocketDescriptor

    /// The bound address, with the real port when port 0 was asked for.
    package let localAddress: SocketAddress

    /// Creates a socket bound to `address`. With `dualStack` and an IPv6 address, the socket also sends to
    /// and receives from IPv4 peers (they appear as IPv4-mapped addresses, which `receive` unmaps).
    ///
    /// - Parameter bufferSize: asks the kernel for receive and send buffers of this many bytes (it grants at
    ///   most `net.core.rmem_max` / `wmem_max`), so a burst is not dropped at the socket; the memory is
    ///   used only while datagrams wait. `nil` keeps the system default.
    package init(bindingTo address: SocketAddress, dualStack: Bool = false, bufferSize: Int? = nil) throws(SocketError) {
        let descriptor = try SocketDescriptor(family: address.family, type: Int32(SOCK_DGRAM.rawValue))
        if let bufferSize {
            // Best effort: a smaller grant still works.
            let size = Int32(clamping: bufferSize)
            try? descriptor.setOption(level: SOL_SOCKET, name: SO_RCVBUF, value: size)
            try? descriptor.setOption(level: SOL_SOCKET, name: SO_SNDBUF, value: size)
        }
        if address.ip.isIPv6 {
            try descriptor.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: dualStack ? 0 : 1)
        }
        try descriptor.bind(to: address)
        guard let local = descriptor.localAddress else { throw .failed(operation: "getsockname", errno: .current) }
        self.descriptor = descriptor
        self.localAddress = local
    }

    /// Receives one datagram into `buffer`. (A relay that prepends a header sends header and payload
    /// gathered in one `sendmsg`, so no room is left in front.)
    ///
    /// - Returns: the datagram's length (a datagram longer than the buffer is cut to fit) and its sender,
    ///   with an IPv4-mapped address written as IPv4.
    package func receive(into buffer: inout [UInt8]) async throws -> (count: Int, sender: SocketAddress) {
        while true {
            if let received = try receiveNow(into: &buffer) { return received }
            try await descriptor.registration.wait(for: .read)
        }
    }

    /// Receives one datagram if one is waiting, without waiting: `nil` when none is.
    package func receiveNow(into buffer: inout [UInt8]) throws(SocketError) -> (count: Int, sender: SocketAddress)? {
        let fd = descriptor.fd
        var sender: SocketAddress?
        let received = try descriptor.attempt(operation: "recvfrom") {
            buffer.withUnsafeMutableBytes { raw in
                let (result, address) = SocketAddress.reading { Int32(Glibc.recvfrom(fd, raw.baseAddress, raw.count, 0, $0, $1)) }
                sender = address
                return Int(result)
            }
        }
        guard let count = received else { return nil }
        guard let sender else { throw .failed(operation: "recvfrom", errno: Errno(rawValue: EAFNOSUPPORT)) }
        return (count, sender.unmapped)
    }

    /// Sends one datagram to `destination`, waiting for buffer space if the socket's queue is full.
    package func send(_ bytes: ArraySlice<UInt8>, to destination: SocketAddress) async throws {
        let fd = descriptor.fd
        let target = mapped(destination)
        _ = try await descriptor.perform(.write, operation: "sendto \(destination)") {
            bytes.withUnsafeBytes { raw in
                target.withSockAddr { Glibc.sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), $0, $1) }
            }
        }
    }

    /// Sends one datagram made of `header` followed by `payload` to `destination`, in one `sendmsg` that
    /// gathers both (a relay prepends a header to a payload that lies in a reader's buffer, without copying
    /// the payload); waits for buffer space if the socket's queue is full.
    package func send(header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>, to destination: SocketAddress) async throws {
        let fd = descriptor.fd
        let target = mapped(destination)
        _ = try await descriptor.perform(.write, operation: "sendmsg") {
            header.withUnsafeBytes { header in
                payload.withUnsafeBytes { payload in
                    target.withSockAddr { address, length in
                        // The pointers are valid only inside these closures, which the call does not outlive;
                        // `sendmsg` only reads through them (the `mutating` casts are what its C types ask for).
                        withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { parts in
                            parts[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count)
                            parts[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count)
                            var message = msghdr()
                            message.msg_name = UnsafeMutableRawPointer(mutating: address)
                            message.msg_namelen = length
                            message.msg_iov = parts.baseAddress
                            message.msg_iovlen = 2
                            return Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
                        }
                    }
                }
            }
        }
    }

    /// Sends one datagram to `destination`.
    package func send(_ bytes: [UInt8], to destination: SocketAddress) async throws {
        try await send(bytes[...], to: destination)
    }

    /// Closes the socket; a task waiting to receive wakes with `SocketError.closed`.
    package func close() {
        descriptor.close()
    }

    /// An IPv6 socket reaches an IPv4 peer through the peer's IPv4-mapped address.
    private func mapped(_ address: SocketAddress) -> SocketAddress {
        guard localAddress.ip.isIPv6, address.ip.isIPv4 else { return address }
        return SocketAddress(ip: address.ip.mapped, port: address.port)
    }
}
