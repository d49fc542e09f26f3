import Glibc
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

    /// Issue 19: addresses are stored inline (no array); each form and the conversions between them.
    @Test func inlineAddressesKeepTheirBytesAndForms() throws {
        let v4 = try #require(IPAddress(bytes: [192, 0, 2, 7]))
        #expect(v4.bytes == [192, 0, 2, 7] && v4.isIPv4 && v4.byteCount == 4 && v4[byteAt: 3] == 7)
        let v6 = try #require(IPAddress("2001:db8::1"))
        #expect(v6.bytes == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1] && v6.isIPv6)
        #expect(v6.integerHalves == (0x2001_0db8_0000_0000, 1))
        #expect(v4.mapped == IPAddress("::ffff:192.0.2.7") && v4.mapped.unmapped == v4 && v6.mapped == v6)
        // An IPv4 address and the IPv6 address that starts with the same bytes are different addresses.
        let lookalike = try #require(IPAddress(bytes: [192, 0, 2, 7] + [UInt8](repeating: 0, count: 12)))
        #expect(lookalike != v4 && Set([v4, lookalike, v4.mapped]).count == 3)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil && IPAddress(bytes: []) == nil)
        #expect(IPAddress.ipv4Any.isUnspecified && IPAddress.ipv6Any.isUnspecified && !v4.isUnspecified)
        #expect(IPAddress.ipv4Loopback.isLoopback && IPAddress.ipv6Loopback.isLoopback && !v6.isLoopback)
        var fromSockaddr = sockaddr_storage()
        withUnsafeMutableBytes(of: &fromSockaddr) { raw in
            let address = try! SocketAddress("2001:db8::1", port: 443)
            address.withSockAddr { pointer, length in raw.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length))) }
        }
        #expect(SocketAddress(storage: fromSockaddr) == (try SocketAddress("2001:db8::1", port: 443)))
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
