import Testing
@testable import SOCKSProtocol

/// Names a client asks for and user names it sends are bytes: every parser keeps them byte for byte, refuses
/// a name that is no host name (instead of decoding it with U+FFFD, which names another host), and logs
/// bytes that are not UTF-8 as themselves.
@Suite struct HostNameTests {
    /// A name as the test shows it, and its bytes.
    struct Name: Sendable, CustomTestStringConvertible {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        init(_ text: String) { self.bytes = Array(text.utf8) }
        var testDescription: String { ClientBytes.text(bytes).debugDescription }
    }

    /// Host names, IDNs in Unicode form and IPv6 text: taken, with exactly their bytes.
    static let names: [Name] = [
        Name("example.com"), Name("Mixed-Case_label.example."), Name("127.0.0.1"), Name("bücher.example"), Name("例え.テスト"),
        // Valid UTF-8 is an IDN to the parser, whatever a terminal makes of it (the logger escapes it).
        Name("a\u{202E}b"), Name("\u{FFFD}"), Name("::1"), Name("2001:DB8::1"), Name("::ffff:192.0.2.1"),
        Name([UInt8](repeating: 0x61, count: 255)),
    ]

    /// No host names: a byte that is not UTF-8 (alone, truncated, overlong, an encoded surrogate, past
    /// U+10FFFF), an ASCII byte other than a letter, digit, `-`, `_` or `.`, or `:` outside IPv6 text.
    static let nonNames: [Name] = [
        Name([0x61, 0x6C, 0xFF, 0x69, 0x63, 0x65]), Name([0xC3]), Name([0x61, 0xC3, 0x2E]), Name([0xC0, 0xAF]), Name([0xED, 0xA0, 0x80]),
        Name([0xF4, 0x90, 0x80, 0x80]), Name([0x61, 0x00]), Name("a b"), Name("a/b"), Name("a%2eb"), Name("user@host"), Name("a\\b"),
        Name("a\r\nb"), Name("a\u{7F}"), Name("host:80"), Name("[::1]"), Name("fe80::1%eth0"), Name("*.example"), Name("ex\u{1b}[2Jample"),
    ]

    @Test(arguments: names)
    func hostNamesKeepTheirBytesInEveryParser(name: Name) throws {
        let text = try #require(HostName.text(name.bytes))
        #expect(Array(text.utf8) == name.bytes)
        let endpoint = SOCKSEndpoint(address: .domain(text), port: 443)

        // SOCKS5 request, byte-exact both ways, fed in every prefix.
        let request = [0x05, 0x01, 0x00, 0x03, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB]
        #expect(try parseIncrementally(request, SOCKSRequest.parse) == SOCKSRequest(command: .connect, destination: endpoint))
        #expect(SOCKSRequest(command: .connect, destination: endpoint).encoded() == request)

        // UDP request header.
        let datagram = [0, 0, 0, 0x03, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB, 0x2A]
        let (header, payloadStart) = try SOCKSUDPHeader.parse(datagram: datagram[...])
        #expect(header.endpoint == endpoint && payloadStart == datagram.count - 1)
        #expect(header.encoded() == Array(datagram.dropLast()))

        // SOCKS4a.
        let socks4a = [0x04, 0x01, 0x01, 0xBB, 0, 0, 0, 1, 0] + name.bytes + [0]
        var reader = ByteReader(socks4a[...])
        #expect(try SOCKS4Request.parse(from: &reader) == SOCKS4Request(command: .connect, destination: endpoint))
        #expect(SOCKS4Request(command: .connect, destination: endpoint).encoded() == socks4a)

        // UoT: the v2 header and an addressed frame.
        let uotHeader = [0x01, 0x03, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB]
        #expect(try decodeAll(uotHeader, { UoTStreamDecoder(serverOf: .v2) }) == [.header(UoTRequestHeader(isConnect: true, destination: endpoint))])
        let frame = [0x02, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB, 0x00, 0x01, 0x2A]
        #expect(try decodeAll(frame, { UoTStreamDecoder(framing: .addressed) }) == [.frame(UoTFrame(endpoint: endpoint, payload: [0x2A]))])
        #expect(try UoTFrame(endpoint: endpoint, payload: [0x2A]).encoded(framing: .addressed) == frame)
    }

    @Test(arguments: nonNames)
    func aNameThatIsNoHostNameIsRefusedWithItsBytes(name: Name) throws {
        #expect(HostName.text(name.bytes) == nil)
        #expect(!HostName.isValid(name.bytes))

        // SOCKS5: refused as soon as the name is in, with reply 04 (host unreachable).
        let request = [0x05, 0x01, 0x00, 0x03, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB]
        var reader = ByteReader(request[...])
        #expect(throws: SOCKSProtocolError.invalidDomainName(name.bytes)) { try SOCKSRequest.parse(from: &reader) }
        reader = ByteReader(request.dropLast(2))
        #expect(throws: SOCKSProtocolError.invalidDomainName(name.bytes)) { try SOCKSRequest.parse(from: &reader) }
        #expect(SOCKSProtocolError.invalidDomainName(name.bytes).replyCode == .hostUnreachable)
        var handshake = SOCKSServerHandshake(requiresAuthentication: false)
        handshake.receive([0x05, 0x01, 0x00] + request)
        #expect(handshake.next() == .send([0x05, 0x00]))
        #expect(handshake.next() == .fail(reply: [0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0], .malformed(.invalidDomainName(name.bytes))))
        // The description goes into the access line's outcome unescaped: it never holds the client's bytes.
        #expect(!SOCKSProtocolError.invalidDomainName(name.bytes).description.utf8.contains { $0 >= 0x80 || $0 < 0x20 })

        // UDP request header.
        let datagram = [0, 0, 0, 0x03, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB, 0x2A]
        #expect(throws: SOCKSProtocolError.invalidDomainName(name.bytes)) { try SOCKSUDPHeader.parse(datagram: datagram[...]) }

        // SOCKS4a: refused with 5B.
        let socks4a = [0x04, 0x01, 0x01, 0xBB, 0, 0, 0, 1, 0] + name.bytes + [0]
        if !name.bytes.contains(0) {
            reader = ByteReader(socks4a[...])
            #expect(throws: SOCKS4ProtocolError.invalidHostname(name.bytes)) { try SOCKS4Request.parse(from: &reader) }
            var decoder = SOCKS4RequestDecoder()
            decoder.receive(socks4a)
            #expect(decoder.next() == .fail(reply: [0x00, 0x5B, 0, 0, 0, 0, 0, 0], .invalidHostname(name.bytes)))
        }

        // UoT: a header with such a name ends the stream; a frame with one is read whole and reported, and
        // the frames after it still come.
        let uotHeader = [0x01, 0x03, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB]
        var headerDecoder = UoTStreamDecoder(serverOf: .v2)
        headerDecoder.receive(uotHeader)
        #expect(throws: UoTProtocolError.invalidDomain) { try headerDecoder.next() }
        let frame = [0x02, UInt8(name.bytes.count)] + name.bytes + [0x01, 0xBB, 0x00, 0x02, 0x2A, 0x2B]
        let next: [UInt8] = [0x00, 192, 0, 2, 1, 0x00, 0x35, 0x00, 0x01, 0x2C]
        #expect(try decodeAll(frame + next, { UoTStreamDecoder(serverOf: .v1) }) == [
            .unaddressableFrame(name: name.bytes, port: 443, payloadCount: 2),
            .frame(UoTFrame(endpoint: SOCKSEndpoint(address: .ipv4([192, 0, 2, 1]), port: 53), payload: [0x2C])),
        ])
        // Where a frame cannot be skipped, the frame reader refuses it.
        reader = ByteReader(frame[...])
        #expect(throws: UoTProtocolError.invalidDomain) { try UoTFrame.parse(from: &reader, framing: .addressed) }
        reader = ByteReader(frame[...])
        #expect(throws: UoTProtocolError.invalidDomain) { try reader.readUoTEndpoint() }
    }

    /// A frame to a name that is no host name is still held to the reader's payload limit.
    @Test func anUnaddressableFrameIsStillLimited() {
        var decoder = UoTStreamDecoder(framing: .addressed, maximumPayload: 1)
        decoder.receive([0x02, 0x01, 0xFF, 0x00, 0x35, 0x00, 0x02, 1, 2])
        #expect(throws: UoTProtocolError.frameTooLarge(2)) { try decoder.next() }
    }

    /// User names are bytes: RFC 1929 and SOCKS4 keep them exactly, and log text shows a byte that is not
    /// UTF-8 as `\xHH`, never as U+FFFD (which would make `al\xffice` read as a user named `al\u{FFFD}ice`).
    @Test func userNamesAreBytesAndShowAsSent() throws {
        let username: [UInt8] = [0x61, 0x6C, 0xFF, 0x69, 0x63, 0x65]
        let credentials = SOCKSCredentials(username: username, password: [0x70, 0x77])
        let wire = [0x01, 0x06] + username + [0x02, 0x70, 0x77]
        #expect(credentials.encoded() == wire)
        #expect(try parseIncrementally(wire, SOCKSCredentials.parse) == credentials)
        #expect(credentials.usernameText == #"al\xffice"#)
        #expect(credentials.description == #"al\xffice:<redacted>"#)
        #expect(SOCKSCredentials(username: "al\u{FFFD}ice", password: "pw").usernameText == "al\u{FFFD}ice")
        #expect(SOCKS4Request(command: .connect, destination: .unspecified, userID: [0x62, 0xC3, 0x28]).userIDText == #"b\xc3("#)

        var handshake = SOCKSServerHandshake(requiresAuthentication: true)
        handshake.receive([0x05, 0x01, 0x02] + wire)
        #expect(handshake.next() == .send([0x05, 0x02]))
        #expect(handshake.next() == .verifyCredentials(credentials))
        #expect(handshake.credentialsVerified(false) == .fail(reply: [0x01, 0x01], .authenticationFailed(username: #"al\xffice"#)))

        // HTTP Basic: base64 of `al\xffice:pw`, decoded to the same bytes.
        let basic = HTTPProxyAuthorization(fieldValue: Array("Basic YWz/aWNlOnB3".utf8))
        #expect(basic == .basic(credentials))
    }

    @Test func clientBytesEscapeOnlyWhatIsNotUTF8() {
        #expect(ClientBytes.text([]) == "")
        #expect(ClientBytes.text(Array("plain é \u{202E}".utf8)) == "plain é \u{202E}")
        #expect(ClientBytes.text([0xFF]) == #"\xff"#)
        #expect(ClientBytes.text([0x41, 0xC3]) == #"A\xc3"#)
        #expect(ClientBytes.text([0xC3, 0xA9, 0xE2, 0x82, 0x41, 0x05]) == "é\\xe2\\x82A\u{05}")
        #expect(ClientBytes.text([0xC0, 0xAF, 0xED, 0xA0, 0x80]) == #"\xc0\xaf\xed\xa0\x80"#)
        #expect(ClientBytes.text([0xEF, 0xBF, 0xBD]) == "\u{FFFD}")
    }
}
