import Testing
@testable import AsyncSockets

@Suite struct AddressTests {
    @Test(arguments: ["127.0.0.1", "0.0.0.0", "::1", "2001:db8::1", "::"])
    func ipAddressRoundTrips(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == text)
    }

    @Test(arguments: ["", "localhost", "1.2.3", "256.0.0.1", "[::1]", "::1%lo"])
    func notAnIPAddress(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func ipv4MappedIPv6IsUnmapped() throws {
        let mapped = try #require(IPAddress("::ffff:192.0.2.7"))
        #expect(mapped.unmapped == IPAddress("192.0.2.7"))
        #expect(IPAddress("2001:db8::1")!.unmapped == IPAddress("2001:db8::1"))
        #expect(SocketAddress(ip: mapped, port: 9).unmapped.description == "192.0.2.7:9")
    }

    @Test func socketAddressDescriptions() throws {
        #expect(try SocketAddress("127.0.0.1", port: 1080).description == "127.0.0.1:1080")
        #expect(try SocketAddress("::1", port: 1080).description == "[::1]:1080")
    }

    @Test func happyEyeballsInterleavesStartingWithIPv6() throws {
        let v4a = try SocketAddress("127.0.0.1", port: 1)
        let v4b = try SocketAddress("127.0.0.2", port: 1)
        let v6 = try SocketAddress("::1", port: 1)
        #expect(HappyEyeballs.interleaved([v4a, v4b, v6]) == [v6, v4a, v4b])
    }

    @Test(arguments: [("127.0.0.1:1080", "127.0.0.1", 1080), ("[::1]:0", "::1", 0), ("proxy.example:65535", "proxy.example", 65535)])
    func hostAndPortParsesAndWritesBack(text: String, host: String, port: Int) throws {
        let parsed = try HostAndPort(parsing: text)
        #expect(parsed == HostAndPort(host: host, port: UInt16(port)))
        #expect(parsed.description == text)
    }

    /// Found by the fuzzer: `[[]:1` read as host `[`, which wrote back as `[:1` and could not be read again.
    @Test(arguments: ["::1:80", "[::1]80", "host:", "host:65536", ":80", "[[]:1", "a]b:1", "[]:1"])
    func hostAndPortRefusesMalformedText(text: String) {
        #expect(throws: HostAndPort.ParseError.self) { try HostAndPort(parsing: text) }
    }
}
