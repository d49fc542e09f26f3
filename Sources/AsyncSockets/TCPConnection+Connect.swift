import Glibc

extension TCPConnection {
    /// Opens a TCP connection to one address, optionally from a given local address.
    ///
    /// Cancellation abandons the attempt and closes its socket. With `timeout`, an attempt still pending
    /// then is closed by its loop's timer and throws `SocketError.timedOut` (no task group, no dispatch
    /// timer; a connect that finished inside `connect()` sets no timer at all). For names, use
    /// `connect(toHost:port:)`.
    nonisolated(nonsending) package static func connect(to address: SocketAddress, from localAddress: SocketAddress? = nil, timeout: Duration? = nil) async throws -> TCPConnection {
        let descriptor = try SocketDescriptor(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        return try await connect(using: descriptor, to: address, from: localAddress, timeout: timeout)
    }

    /// `connect(to:from:timeout:)` on a socket made (and registered) beforehand.
    nonisolated(nonsending) static func connect(using descriptor: SocketDescriptor, to address: SocketAddress, from localAddress: SocketAddress?, timeout: Duration?) async throws -> TCPConnection {
        switch try startConnect(using: descriptor, to: address, from: localAddress) {
        case .connected(let connection): return connection
        case .pending(let pending): return try await pending.finish(timeout: timeout)
        }
    }

    /// Starts a TCP connection to one address without waiting: the connection, when `connect()` finished
    /// it at once (on loopback, usually), or the attempt to wait for. A caller that must watch something
    /// else while the handshake goes on (the client of a proxy, which may hang up) waits only in that case.
    ///
    /// - Throws: `SocketError` when the socket cannot be made or the connect fails at once (refused).
    package static func startConnect(to address: SocketAddress, from localAddress: SocketAddress? = nil) throws -> ConnectStart {
        let descriptor = try SocketDescriptor(family: address.family, type: Int32(SOCK_STREAM.rawValue))
        return try startConnect(using: descriptor, to: address, from: localAddress)
    }

    private static func startConnect(using descriptor: SocketDescriptor, to address: SocketAddress, from localAddress: SocketAddress?) throws -> ConnectStart {
        do {
            if let localAddress { try descriptor.bind(to: localAddress) }
            switch retryingInterrupts({ address.withSockAddr { Glibc.connect(descriptor.fd, $0, $1) } }) {
            case .success:
                break
            case .failure(let error) where error == .inProgress:
                // On loopback (and to a host in the same machine's namespace) the handshake usually
                // completes inside connect() itself: one look at the TCP state then saves a wait, a
                // wake-up, a timer and the SO_ERROR and peer checks.
                if !isEstablished(descriptor) { return .pending(PendingConnect(descriptor: descriptor, address: address)) }
            case .failure(let error):
                throw SocketError.failed(operation: "connect \(address)", errno: error)
            }
            return .connected(try TCPConnection(descriptor: descriptor, remoteAddress: address, dialed: true))
        } catch {
            descriptor.close()
            throw error
        }
    }

    /// Resolves `host` (a literal address or a name) and connects, racing the addresses by Happy Eyeballs
    /// (RFC 8305) when the name has several.
    ///
    /// With `timeout`, resolving and connecting together give up after it with `SocketError.timedOut`.
    package static func connect(
        toHost host: String, port: UInt16, resolver: any HostResolver = NameResolver.shared,
        attemptDelay: Duration = .milliseconds(250), timeout: Duration? = nil
    ) async throws -> TCPConnection {
        guard let timeout else {
            let addresses = try await resolver.resolve(host: host, port: port)
            return try await HappyEyeballs.connect(to: addresses, attemptDelay: attemptDelay)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let addresses: [SocketAddress]
        if let literal = IPAddress(host) {
            addresses = [SocketAddress(ip: literal, port: port)]
        } else {
            addresses = try await resolver.resolve(host: host, port: port, timeout: timeout)
        }
        let remaining = deadline - clock.now
        guard remaining > .zero else { throw SocketError.timedOut }
        return try await HappyEyeballs.connect(to: addresses, attemptDelay: attemptDelay, timeout: remaining)
    }

    /// Whether the kernel's TCP state for this socket is ESTABLISHED (a pending connect that has finished).
    static func isEstablished(_ descriptor: SocketDescriptor) -> Bool {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(descriptor.fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return false }
        return Int(info.tcpi_state) == TCP_ESTABLISHED
    }

    /// Waits for a pending `connect()` to finish, and throws its failure.
    ///
    /// The socket was registered before `connect()`, and an unconnected TCP socket reports EPOLLOUT|EPOLLHUP:
    /// a write-ready edge from before the attempt may still be recorded. So a wake-up is only a hint: the
    /// attempt has finished when `SO_ERROR` names a failure or the socket has a peer, and otherwise the
    /// wait goes on (the real completion is a new edge).
    nonisolated(nonsending) static func waitUntilConnected(_ descriptor: SocketDescriptor, to address: SocketAddress) async throws {
        while true {
            try await descriptor.registration.wait(for: .write)
            if let error = descriptor.takePendingError() {
                throw SocketError.failed(operation: "connect \(address)", errno: error)
            }
            if descriptor.remoteAddress != nil { return }
        }
    }
}
