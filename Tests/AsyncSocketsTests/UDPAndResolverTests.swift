import Testing
@testable import AsyncSockets

@Suite struct UDPAndResolverTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func datagramsRoundTrip(host: String) async throws {
        let a = try UDPSocket(bindingTo: SocketAddress(host, port: 0)!)
        let b = try UDPSocket(bindingTo: SocketAddress(host, port: 0)!)
        defer { a.close(); b.close() }
        try await a.send(Array("ping".utf8), to: b.localAddress)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let (count, sender) = try await b.receive(into: &buffer)
        #expect(Array(buffer[0..<count]) == Array("ping".utf8))
        #expect(sender == a.localAddress)
        try await b.send([], to: sender)
        #expect(try await a.receive(into: &buffer).count == 0)
    }

    @Test func dualStackSocketReachesIPv4PeersAndReportsThemUnmapped() async throws {
        let dual = try UDPSocket(bindingTo: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        let v4 = try UDPSocket(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { dual.close(); v4.close() }
        try await dual.send([1, 2, 3], to: v4.localAddress)
        var buffer = [UInt8](repeating: 0, count: 16)
        let (_, sender) = try await v4.receive(into: &buffer)
        try await v4.send([4], to: sender)
        let (count, back) = try await dual.receive(into: &buffer)
        #expect(count == 1)
        #expect(back == v4.localAddress)
    }

    @Test func localhostResolves() async throws {
        let addresses = try await NameResolver.shared.resolve(host: "localhost", port: 80)
        #expect(addresses.contains(SocketAddress(ip: .ipv4Loopback, port: 80)))
    }

    @Test func literalAddressesSkipTheLookup() async throws {
        #expect(try await NameResolver.shared.resolve(host: "::1", port: 5) == [SocketAddress("::1", port: 5)!])
    }

    @Test(arguments: ["nonexistent.invalid", "INVALID", "a.b.invalid."])
    func invalidNamesFailAtOnce(name: String) async throws {
        await #expect(throws: SocketError.nameNotFound(name)) {
            try await NameResolver.shared.resolve(host: name, port: 80)
        }
    }
}
