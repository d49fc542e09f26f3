import Glibc

extension TCPConnection {
    /// Opens a TCP connection to one address, optionally from a given local address.
    ///
    /// Cancellation abandons the attempt and closes its socket. For a deadline, wrap the call in
    /// `withDeadline`; for names, use `connect(toHost:port:)`.
    public static func connect(to address: SocketAddress, from localAddress: SocketAddress? = nil) async throws -> TCPConnection {
        let descriptor = try SocketDescriptor(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        do {
            if let localAddress { try descriptor.bind(to: localAddress) }
            switch retryingInterrupts({ address.withSockAddr { Glibc.connect(descriptor.fd, $0, $1) } }) {
            case .success:
                break
            case .failure(let error) where error == .inProgress:
                try await descriptor.registration.wait(for: .write)
                var socketError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(descriptor.fd, SOL_SOCKET, SO_ERROR, &socketError, &length) != 0 {
                    throw SocketError.failed(operation: "connect \(address)", errno: .current)
                }
                if socketError != 0 {
                    throw SocketError.failed(operation: "connect \(address)", errno: Errno(rawValue: socketError))
                }
            case .failure(let error):
                throw SocketError.failed(operation: "connect \(address)", errno: error)
            }
            return try TCPConnection(descriptor: descriptor, remoteAddress: address)
        } catch {
            descriptor.close()
            throw error
        }
    }

    /// Resolves `host` (a literal address or a name) and connects, racing the addresses by Happy Eyeballs
    /// (RFC 8305) when the name has several.
    public static func connect(
        toHost host: String, port: UInt16, resolver: any HostResolver = NameResolver.shared,
        attemptDelay: Duration = .milliseconds(250)
    ) async throws -> TCPConnection {
        let addresses = try await resolver.resolve(host: host, port: port)
        return try await HappyEyeballs.connect(to: addresses, attemptDelay: attemptDelay)
    }
}
