import Glibc

/// Resolves host names with `getaddrinfo`, on threads of its own.
public final class NameResolver: Sendable {
    /// The resolver that `TCPConnection.connect(toHost:port:)` uses.
    public static let shared = NameResolver(threads: 4)

    private let pool: BlockingThreadPool
    /// The limit on a lookup called without one of its own.
    public let defaultTimeout: Duration

    /// - Parameters:
    ///   - threads: how many lookups may block at once.
    ///   - maximumQueuedLookups: how many lookups may wait for a thread; past it a lookup fails at once
    ///     with `SocketError.resolutionFailed` (a full queue means lookups cannot keep up; waiting would
    ///     only make each one later).
    ///   - defaultTimeout: how long `resolve(host:port:)` waits (a stuck `getaddrinfo`, for example a hung
    ///     NSS module, must not hold its caller forever).
    public init(threads: Int, maximumQueuedLookups: Int = 1024, defaultTimeout: Duration = .seconds(30)) {
        pool = BlockingThreadPool(maximumThreads: threads, maximumQueuedJobs: maximumQueuedLookups, threadName: "socksd-resolver")
        self.defaultTimeout = defaultTimeout
    }

    /// Every address of `host`, IPv6 and IPv4, in the order the system prefers; a literal address is
    /// returned as it is, without a lookup.
    ///
    /// Names under `.invalid` fail at once (RFC 6761 §6.4: they never resolve), without asking the network.
    ///
    /// Gives up with `SocketError.timedOut` after `defaultTimeout`.
    ///
    /// - Throws: `SocketError.nameNotFound` when the name has no address.
    public func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
        try await resolve(host: host, port: port, timeout: defaultTimeout)
    }

    /// `resolve(host:port:)` that gives up with `SocketError.timedOut` after `timeout`, timed by an event
    /// loop's timer rather than a task group. A lookup given up on before a thread took it never runs; one
    /// already running is ignored when it ends.
    public func resolve(host: String, port: UInt16, timeout: Duration) async throws -> [SocketAddress] {
        if let literal = IPAddress(host) {
            return [SocketAddress(ip: literal, port: port)]
        }
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        guard !name.isEmpty, !name.contains("\0") else { throw SocketError.nameNotFound(host) }
        if name.lowercased() == "invalid" || name.lowercased().hasSuffix(".invalid") {
            throw SocketError.nameNotFound(host)
        }
        let result: Result<[SocketAddress], SocketError>
        do {
            result = try await pool.run(timeout: timeout) { Self.lookUp(name) }
        } catch let saturated as BlockingThreadPool.Saturated {
            // A host-level failure (reply 04), not a general one: the client may well try another name.
            throw SocketError.resolutionFailed(host: host, reason: "resolver overloaded, \(saturated)")
        }
        switch result {
        case .success(let addresses):
            return addresses.map { SocketAddress(ip: $0.ip, port: port, scopeID: $0.scopeID) }
        case .failure(let error):
            throw error == .nameNotFound(name) ? SocketError.nameNotFound(host) : error
        }
    }

    /// The blocking part: one `getaddrinfo` call, its answers de-duplicated in order.
    private static func lookUp(_ name: String) -> Result<[SocketAddress], SocketError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0 else {
            // glibc's EAI_NODATA (-5, "no address for this name") is a GNU extension the overlay hides.
            let noData: Int32 = -5
            // EAI_AGAIN (no answer from the DNS) ends as "not found" too: for a proxy the host is unreachable.
            if status == EAI_NONAME || status == noData || status == EAI_FAIL || status == EAI_AGAIN {
                return .failure(.nameNotFound(name))
            }
            return .failure(.resolutionFailed(host: name, reason: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        // `list` is a linked list owned by libc until `freeaddrinfo`; nothing here outlives the defer.
        var entry = list
        while let current = entry {
            if let sockaddr = current.pointee.ai_addr {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: sockaddr, count: Int(current.pointee.ai_addrlen)))
                }
                if let address = SocketAddress(storage: storage), !addresses.contains(address) {
                    addresses.append(address)
                }
            }
            entry = current.pointee.ai_next
        }
        return addresses.isEmpty ? .failure(.nameNotFound(name)) : .success(addresses)
    }
}
