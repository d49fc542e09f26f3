import Testing
@testable import SOCKSProtocol

/// SOCKS4 and SOCKS4a, byte by byte: requests, replies and the request decoder.
@Suite struct SOCKS4CodecTests {
    /// `04 01 0050 C0000201 "fred" 00`: CONNECT to 192.0.2.1:80 for user id fred.
    static let connectIPv4: [UInt8] = [0x04, 0x01, 0x00, 0x50, 192, 0, 2, 1] + Array("fred".utf8) + [0]
    /// `04 02 1F90 00000001 00 "example.com" 00`: a 4a BIND naming example.com:8080, empty user id.
    static let bind4a: [UInt8] = [0x04, 0x02, 0x1F, 0x90, 0, 0, 0, 1, 0] + Array("example.com".utf8) + [0]

    /// Parses `bytes` whole, and checks that every shorter prefix asks for more instead of failing.
    func parseIncrementally(_ bytes: [UInt8]) throws -> SOCKS4Request? {
        for cut in 0..<bytes.count {
            var reader = ByteReader(bytes[0..<cut])
            #expect(try SOCKS4Request.parse(from: &reader) == nil, "prefix of \(cut) bytes should need more")
        }
        var reader = ByteReader(bytes[...])
        let request = try SOCKS4Request.parse(from: &reader)
        #expect(reader.remaining == 0)
        return request
    }

    @Test func connectToAnIPv4AddressIsByteExact() throws {
        let request = SOCKS4Request(command: .connect, destination: SOCKSEndpoint(address: .ipv4([192, 0, 2, 1]), port: 80), userID: Array("fred".utf8))
        #expect(request.encoded() == Self.connectIPv4)
        #expect(try parseIncrementally(Self.connectIPv4) == request)
        #expect(request.userIDText == "fred")
    }

    @Test func the4aFormCarriesTheNameAfterTheUserID() throws {
        let request = SOCKS4Request(command: .bind, destination: SOCKSEndpoint(address: .domain("example.com"), port: 8080))
        #expect(request.encoded() == Self.bind4a)
        #expect(try parseIncrementally(Self.bind4a) == request)
    }

    /// Any `0.0.0.x` with x ≠ 0 is the 4a form; `0.0.0.0` is an IPv4 address (a BIND's "any peer").
    @Test(arguments: [UInt8(1), 2, 0xFF])
    func every0000xAddressIsThe4aForm(last: UInt8) throws {
        let bytes: [UInt8] = [0x04, 0x01, 0x01, 0xBB, 0, 0, 0, last] + Array("id".utf8) + [0] + Array("a.example".utf8) + [0]
        let request = try #require(try parseIncrementally(bytes))
        #expect(request.destination == SOCKSEndpoint(address: .domain("a.example"), port: 443))
        let zero: [UInt8] = [0x04, 0x02, 0, 0, 0, 0, 0, 0, 0]
        #expect(try parseIncrementally(zero)?.destination == SOCKSEndpoint(address: .ipv4([0, 0, 0, 0]), port: 0))
    }

    @Test func anotherVersionIsRefused() {
        var reader = ByteReader([0x05, 0x01, 0x00][...])
        #expect(throws: SOCKS4ProtocolError.unsupportedVersion(5)) { try SOCKS4Request.parse(from: &reader) }
    }

    /// 255 bytes and the NUL are accepted; 256 bytes without a NUL are malformed, as soon as they are there.
    @Test func userIDsAndNamesAreBounded() throws {
        let head: [UInt8] = [0x04, 0x01, 0x00, 0x50, 192, 0, 2, 1]
        let longest = [UInt8](repeating: 0x61, count: 255)
        #expect(try parseIncrementally(head + longest + [0])?.userID == longest)
        var reader = ByteReader((head + longest + [0x61])[...])
        #expect(throws: SOCKS4ProtocolError.userIDTooLong) { try SOCKS4Request.parse(from: &reader) }

        let head4a: [UInt8] = [0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1, 0]
        let name = [UInt8](repeating: 0x62, count: 255)
        #expect(try parseIncrementally(head4a + name + [0])?.destination.address == .domain(String(repeating: "b", count: 255)))
        reader = ByteReader((head4a + name + [0x62])[...])
        #expect(throws: SOCKS4ProtocolError.hostnameTooLong) { try SOCKS4Request.parse(from: &reader) }
        reader = ByteReader((head4a + [0])[...])
        #expect(throws: SOCKS4ProtocolError.emptyHostname) { try SOCKS4Request.parse(from: &reader) }
    }

    @Test func repliesAreByteExact() throws {
        let granted = SOCKS4Reply(code: .granted, bound: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 1080))
        #expect(granted.encoded() == [0x00, 0x5A, 0x04, 0x38, 127, 0, 0, 1])
        #expect(SOCKS4Reply(code: .rejected).encoded() == [0x00, 0x5B, 0, 0, 0, 0, 0, 0])
        // An IPv4-mapped IPv6 address is unmapped; another IPv6 address or a name has no SOCKS4 form.
        let mapped = SOCKSEndpoint(address: .ipv6([UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 10, 0, 0, 9]), port: 7)
        #expect(SOCKS4Reply(code: .granted, bound: mapped).encoded() == [0x00, 0x5A, 0x00, 0x07, 10, 0, 0, 9])
        let v6 = SOCKSEndpoint(address: .ipv6([0x20, 0x01] + [UInt8](repeating: 0, count: 14)), port: 7)
        #expect(SOCKS4Reply(code: .granted, bound: v6).encoded() == [0x00, 0x5A, 0x00, 0x07, 0, 0, 0, 0])
        for code in [SOCKS4ReplyCode.granted, .rejected, .identdUnreachable, .identdMismatch] {
            let bytes = SOCKS4Reply(code: code, port: 0x1234, address: [1, 2, 3, 4]).encoded()
            #expect(bytes == [0x00, code.rawValue, 0x12, 0x34, 1, 2, 3, 4])
            var reader = ByteReader(bytes[...])
            #expect(try SOCKS4Reply.parse(from: &reader) == SOCKS4Reply(code: code, port: 0x1234, address: [1, 2, 3, 4]))
        }
        #expect([SOCKS4ReplyCode.granted, .rejected, .identdUnreachable, .identdMismatch].map(\.hex) == ["5A", "5B", "5C", "5D"])
    }

    /// The request one byte at a time, then merged with early data: the same request, the early data kept.
    @Test func theDecoderKeepsEarlyDataHoweverTheBytesArrive() {
        let early: [UInt8] = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        var split = SOCKS4RequestDecoder()
        for byte in Self.bind4a.dropLast() {
            split.receive([byte])
            #expect(split.next() == .needMoreBytes)
        }
        split.receive([Self.bind4a.last!] + early)
        var merged = SOCKS4RequestDecoder()
        merged.receive(Self.bind4a + early)
        let expected = SOCKS4Request(command: .bind, destination: SOCKSEndpoint(address: .domain("example.com"), port: 8080))
        #expect(split.next() == .request(expected))
        #expect(merged.next() == .request(expected))
        #expect(split.takeEarlyData() == early)
        #expect(merged.takeEarlyData() == early)
        #expect(merged.bufferedByteCount == 0)
        #expect(merged.next() == .request(expected), "a finished decoder repeats its request")
    }

    /// A malformed SOCKS4 request earns 5B once; bytes that are not SOCKS4 earn no reply.
    @Test func failuresCarryTheReplyTheirClientWaitsFor() {
        var decoder = SOCKS4RequestDecoder()
        decoder.receive([0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1, 0, 0])
        #expect(decoder.next() == .fail(reply: [0x00, 0x5B, 0, 0, 0, 0, 0, 0], .emptyHostname))
        #expect(decoder.next() == .fail(reply: nil, .emptyHostname))
        #expect(decoder.takeEarlyData().isEmpty)
        var other = SOCKS4RequestDecoder()
        other.receive([0x05, 0x01, 0x00])
        #expect(other.next() == .fail(reply: nil, .unsupportedVersion(5)))
    }
}
