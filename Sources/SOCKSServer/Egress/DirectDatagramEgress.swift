import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization

/// Datagrams straight to their destinations from one UDP socket, dual-stack when the host has IPv6.
///
/// Replies are accepted only from remotes this egress has sent to ("restricted cone"), unless `fullCone`,
/// and never from one of this server's own UDP sockets. The socket counts among those from its opening to
/// `close()`.
final class DirectDatagramEgress: ReadableDatagramEgress {
    let socket: UDPSocket
    private let registration: OwnAddresses.Registration
    private let ownAddresses: OwnAddresses
    private let resolver: any HostResolver
    /// Checks a cached address again for each datagram: the cache is keyed by name alone, and the port,
    /// which rules may name, changes from datagram to datagram.
    private let policy: AccessPolicy
    private let fullCone: Bool
    /// The limit on each name lookup: a datagram waits for its name at most this long, then is dropped.
    private let lookupTimeout: Duration
    private let cache = DomainResolutionCache()
    private let remotes = Mutex<Set<SocketAddress>>([])
    /// Remotes remembered at most; past it the set starts afresh (replies from forgotten remotes drop until
    /// the client sends to them again).
    private let remoteCapacity = 4096

    init(resolver: any HostResolver, policy: AccessPolicy, fullCone: Bool, lookupTimeout: Duration, ownAddresses: OwnAddresses) throws {
        do {
            socket = try UDPSocket(bindingTo: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true, bufferSize: UDPAssociation.socketBufferSize)
        } catch {
            socket = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Any, port: 0), bufferSize: UDPAssociation.socketBufferSize)
        }
        registration = ownAddresses.register(socket.localAddress, .udp)
        self.ownAddresses = ownAddresses
        self.resolver = resolver
        self.policy = policy
        self.fullCone = fullCone
        self.lookupTimeout = lookupTimeout
    }

    func sendsWithoutLookup(to destination: SOCKSEndpoint) -> Bool {
        if destination.socketAddress != nil { return true }
        guard case .domain(let name) = destination.address else { return true }
        return cache.lookUp(name, port: destination.port) != nil
    }

    func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async throws {
        let address = try await resolve(destination)
        remotes.withLock { remotes in
            if remotes.count >= remoteCapacity && !remotes.contains(address) { remotes.removeAll(keepingCapacity: true) }
            remotes.insert(address)
        }
        try await socket.send(payload, to: address)
    }

    func makeReplyReader() -> any DatagramReplyReader {
        ReplyReader(egress: self, datagrams: socket.datagrams().makeAsyncIterator())
    }

    /// The socket's datagrams, each let through or refused by the egress's rules.
    private struct ReplyReader: DatagramReplyReader {
        let egress: DirectDatagramEgress
        var datagrams: UDPSocket.Datagrams.Iterator

        mutating func next() async throws -> DatagramReply? {
            guard let datagram = try await datagrams.next() else { return nil }
            return egress.admit(datagram)
        }
    }

    private func admit(_ datagram: UDPSocket.Datagram) -> DatagramReply {
        let sender = datagram.sender
        guard fullCone || remotes.withLock({ $0.contains(sender) }) else { return .refused(.stranger(sender)) }
        // Sends to those are denied, so only a full cone or a port reused since a send gets here.
        guard !ownAddresses.contains(sender, .udp) else { return .refused(.ownSocket(sender)) }
        return .datagram(payload: datagram.payload, source: SOCKSEndpoint(sender))
    }

    /// A local socket has no far end that can close it.
    var endsOutsideReceive: Bool { false }

    func waitUntilEnded() async {}

    func close() {
        socket.close()
        registration.end()
    }

    private func resolve(_ destination: SOCKSEndpoint) async throws -> SocketAddress {
        if let address = destination.socketAddress { return address }
        guard case .domain(let name) = destination.address else { throw SocketError.nameNotFound("\(destination)") }
        if let cached = cache.lookUp(name, port: destination.port) {
            try policy.check(name: name, address: cached)
            return cached
        }
        let addresses = try await resolver.resolve(host: name, port: destination.port, timeout: lookupTimeout)
        let reachable = socket.localAddress.ip.isIPv6 ? addresses : addresses.filter { $0.ip.isIPv4 }
        guard let address = reachable.first else { throw SocketError.nameNotFound(name) }
        cache.store(name, address: address)
        return address
    }
}
