import Testing
@testable import SOCKSProtocol

// PROXY protocol v1 and v2 headers (HAProxy's doc/proxy-protocol.txt; ../shared/specs/proxy-protocol.md).

/// The v2 signature.
private let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

/// A v2 header: the signature, the version/command and family/transport bytes, the length of `block`, `block`.
private func v2(_ versionAndCommand: UInt8, _ familyAndTransport: UInt8, _ block: [UInt8]) -> [UInt8] {
    signature + [versionAndCommand, familyAndTransport, UInt8(block.count >> 8), UInt8(block.count & 0xFF)] + block
}

/// A TLV: type, big-endian length, value.
private func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] {
    [type, UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
}

private func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

private func endpoint(_ address: [UInt8], _ port: UInt16) -> ProxyEndpoint { ProxyEndpoint(address: address, port: port) }

/// What a decoder made of some bytes: the step after the last chunk, and the bytes after the header.
private struct Outcome: Equatable {
    var step: ProxyHeaderDecoder.Step
    var remaining: [UInt8]
}

/// Feeds the chunks in turn, calling `next()` after each (also after the header, so that later chunks join
/// the remaining bytes), then takes the remaining bytes.
private func run(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var decoder = ProxyHeaderDecoder()
    var step = decoder.next()
    for chunk in chunks {
        decoder.receive(chunk)
        step = decoder.next()
    }
    let remaining = decoder.takeRemainingBytes()
    #expect(decoder.takeRemainingBytes().isEmpty, "remaining bytes handed over twice")
    #expect(decoder.next() == step, "next() does not repeat its outcome")
    return Outcome(step: step, remaining: remaining)
}

/// Decodes `bytes` in one read, byte by byte, and cut at every point into two reads: all must agree.
private func decode(_ bytes: [UInt8]) -> Outcome {
    let whole = run([bytes[...]])
    #expect(run(bytes.indices.map { bytes[$0...$0] }) == whole, "byte-by-byte differs from one read")
    for cut in bytes.indices.dropFirst() {
        #expect(run([bytes[..<cut], bytes[cut...]]) == whole, "cut at \(cut) differs from one read")
    }
    return whole
}

/// The header in `bytes`, with nothing after it.
private func header(_ bytes: [UInt8]) -> ProxyHeader? {
    let outcome = decode(bytes)
    #expect(outcome.remaining.isEmpty)
    guard case .header(let header) = outcome.step else {
        Issue.record("not a header: \(outcome.step)")
        return nil
    }
    return header
}

/// The error for `bytes`, which must also be the error as soon as its offending byte has arrived: the
/// decoder says `.needMoreBytes` for every shorter prefix, and the error once `decidedAfter` bytes are in
/// (by default the byte at the error's offset).
private func error(_ bytes: [UInt8], decidedAfter: Int? = nil) -> ProxyProtocolError? {
    let outcome = decode(bytes)
    #expect(outcome.remaining.isEmpty)
    guard case .invalid(let error) = outcome.step else {
        Issue.record("not invalid: \(outcome.step)")
        return nil
    }
    let decisive = decidedAfter ?? error.offset + 1
    #expect(run([bytes.prefix(decisive)]).step == .invalid(error), "not decided after \(decisive) bytes")
    #expect(run([bytes.prefix(decisive - 1)]).step == .needMoreBytes, "decided before \(decisive) bytes")
    return error
}

@Suite struct ProxyHeaderV1Tests {
    @Test func haproxyExampleBeforeAnHTTPRequest() {
        let request = ascii("GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n")
        let outcome = decode(ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n") + request)
        #expect(
            outcome.step
                == .header(
                    ProxyHeader(
                        version: 1, command: .proxy, source: endpoint([192, 168, 0, 1], 56324),
                        destination: endpoint([192, 168, 0, 11], 443))))
        #expect(outcome.remaining == request)
    }

    @Test func specExampleWithASOCKSGreetingInTheSameSegment() {
        let outcome = decode(ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 1080\r\n") + [0x05, 0x01, 0x00])
        #expect(
            outcome.step
                == .header(
                    ProxyHeader(
                        version: 1, command: .proxy, source: endpoint([192, 0, 2, 10], 56324),
                        destination: endpoint([198, 51, 100, 1], 1080))))
        #expect(outcome.remaining == [0x05, 0x01, 0x00])
    }

    @Test func haproxyLongestLines() {
        // The spec's maximum line lengths: 56 bytes for TCP4, 104 for TCP6, 15 and 107 for UNKNOWN.
        let tcp4 = ascii("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n")
        #expect(tcp4.count == 56)
        #expect(header(tcp4)?.source == endpoint([255, 255, 255, 255], 65535))
        let full6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let tcp6 = ascii("PROXY TCP6 \(full6) \(full6) 65535 65535\r\n")
        #expect(tcp6.count == 104)
        #expect(header(tcp6)?.destination == endpoint([UInt8](repeating: 0xFF, count: 16), 65535))
        let short = ascii("PROXY UNKNOWN\r\n")
        #expect(short.count == 15)
        #expect(header(short) == ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil))
        let worst = ascii("PROXY UNKNOWN \(full6) \(full6) 65535 65535\r\n")
        #expect(worst.count == 107)
        #expect(header(worst) == ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil))
    }

    @Test func zeroAddressesAndPorts() {
        let parsed = header(ascii("PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n"))
        #expect(parsed?.source == endpoint([0, 0, 0, 0], 0))
        #expect(parsed?.destination == endpoint([10, 0, 0, 1], 0))
    }

    @Test func tcp6TextForms() {
        let loopback = [UInt8](repeating: 0, count: 15) + [1]
        let documentation: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
        let mapped: [UInt8] = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 192, 0, 2, 1]
        let forms: [(String, [UInt8])] = [
            ("::1", loopback),
            ("0:0:0:0:0:0:0:1", loopback),
            ("0000:0000:0000:0000:0000:0000:0000:0001", loopback),
            ("::", [UInt8](repeating: 0, count: 16)),
            ("2001:db8::1", documentation),
            ("2001:DB8:0:0:0:0:0:1", documentation),
            ("2001:0db8::0001", documentation),
            ("::ffff:192.0.2.1", mapped),
            ("::FFFF:c000:201", mapped),
            ("0:0:0:0:0:ffff:192.0.2.1", mapped),
            ("1:2:3:4:5:6:7::", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]),
            ("::2:3:4:5:6:7:8", [0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
        ]
        for (text, bytes) in forms {
            let parsed = header(ascii("PROXY TCP6 \(text) ::1 65535 1080\r\n"))
            #expect(parsed?.source == endpoint(bytes, 65535), "\(text)")
            #expect(parsed?.destination == endpoint(loopback, 1080))
        }
    }

    @Test func unknownIgnoresTheRestOfTheLine() {
        let unknown = ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil)
        for line in ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN \r\n", "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY UNKNOWN  x\ty\0z \r\n"] {
            let outcome = decode(ascii(line) + [0x05])
            #expect(outcome.step == .header(unknown), "\(line.debugDescription)")
            #expect(outcome.remaining == [0x05])
        }
    }

    @Test func otherFirstBytesAreRefusedAtOnce() {
        // A SOCKS5 greeting, an HTTP request, lower case, and a near miss: refused at the first wrong byte.
        #expect(error([0x05, 0x01, 0x00]) == ProxyProtocolError(.notProxyProtocol, at: 0))
        #expect(error(ascii("GET / HTTP/1.1\r\n")) == ProxyProtocolError(.notProxyProtocol, at: 0))
        #expect(error(ascii("proxy TCP4")) == ProxyProtocolError(.notProxyProtocol, at: 0))
        #expect(error(ascii("PROXX TCP4")) == ProxyProtocolError(.notProxyProtocol, at: 4))
        #expect(error(ascii("PROXY\tTCP4")) == ProxyProtocolError(.notProxyProtocol, at: 5))
        #expect(error(ascii("PROXY\r\n")) == ProxyProtocolError(.notProxyProtocol, at: 5))
    }

    @Test func protocolMustBeTCP4TCP6OrUNKNOWN() {
        #expect(error(ascii("PROXY TCP5 1.2.3.4")) == ProxyProtocolError(.unknownProtocol, at: 9))
        #expect(error(ascii("PROXY UDP4 1.2.3.4")) == ProxyProtocolError(.unknownProtocol, at: 7))  // U as in UNKNOWN
        #expect(error(ascii("PROXY tcp4 1.2.3.4")) == ProxyProtocolError(.unknownProtocol, at: 6))
        #expect(error(ascii("PROXY  TCP4 1.2.3.4")) == ProxyProtocolError(.unknownProtocol, at: 6))
        #expect(error(ascii("PROXY TCP 1.2.3.4")) == ProxyProtocolError(.unknownProtocol, at: 9))
        #expect(error(ascii("PROXY UNKNOWNX\r\n")) == ProxyProtocolError(.unknownProtocol, at: 13))
        #expect(error(ascii("PROXY \r\n"), decidedAfter: 8) == ProxyProtocolError(.unknownProtocol, at: 6))
        #expect(error(ascii("PROXY TCP4\r\n"), decidedAfter: 12) == ProxyProtocolError(.missingField(.sourceAddress), at: 10))
    }

    @Test func exactlyOneSpaceBetweenFields() {
        let invalidSource = ProxyProtocolError.Reason.invalidAddress(.sourceAddress, ipv6: false)
        #expect(error(ascii("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n")) == ProxyProtocolError(invalidSource, at: 11))
        #expect(
            error(ascii("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"))
                == ProxyProtocolError(.invalidAddress(.destinationAddress, ipv6: false), at: 19))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n")) == ProxyProtocolError(.invalidPort(.sourcePort), at: 27))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n")) == ProxyProtocolError(.invalidPort(.destinationPort), at: 29))
        #expect(error(ascii("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n")) == ProxyProtocolError(invalidSource, at: 18))
        #expect(
            error(ascii("PROXY TCP6 ::1  ::1 1 2\r\n"))
                == ProxyProtocolError(.invalidAddress(.destinationAddress, ipv6: true), at: 15))
    }

    @Test func ipv4WithoutLeadingZerosAndInRange() {
        let invalid = { (offset: Int) in ProxyProtocolError(.invalidAddress(.sourceAddress, ipv6: false), at: offset) }
        #expect(error(ascii("PROXY TCP4 192.168.0.01 1.2.3.4 1 2\r\n")) == invalid(22))
        #expect(error(ascii("PROXY TCP4 010.1.1.1 1.2.3.4 1 2\r\n")) == invalid(12))
        #expect(error(ascii("PROXY TCP4 00.1.1.1 1.2.3.4 1 2\r\n")) == invalid(12))
        #expect(error(ascii("PROXY TCP4 256.1.1.1 1.2.3.4 1 2\r\n")) == invalid(13))
        #expect(error(ascii("PROXY TCP4 1.2.3.1000 1.2.3.4 1 2\r\n")) == invalid(20))
        #expect(error(ascii("PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n")) == invalid(18))
        #expect(error(ascii("PROXY TCP4 1..3.4 1.2.3.4 1 2\r\n")) == invalid(13))
        #expect(error(ascii("PROXY TCP4 .1.2.3 1.2.3.4 1 2\r\n")) == invalid(11))
        #expect(error(ascii("PROXY TCP4 1.2.3. 1.2.3.4 1 2\r\n")) == invalid(17))
        #expect(error(ascii("PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n")) == invalid(16))
        #expect(error(ascii("PROXY TCP4 0x1.2.3.4 1.2.3.4 1 2\r\n")) == invalid(12))
    }

    @Test func familyMustMatchTheAddresses() {
        #expect(
            error(ascii("PROXY TCP4 ::1 ::1 1 2\r\n")) == ProxyProtocolError(.invalidAddress(.sourceAddress, ipv6: false), at: 11))
        #expect(
            error(ascii("PROXY TCP4 1.2.3.4 ::1 1 2\r\n"))
                == ProxyProtocolError(.invalidAddress(.destinationAddress, ipv6: false), at: 19))
        #expect(
            error(ascii("PROXY TCP6 1.2.3.4 ::1 1 2\r\n")) == ProxyProtocolError(.invalidAddress(.sourceAddress, ipv6: true), at: 12))
        #expect(
            error(ascii("PROXY TCP6 ::1 5.6.7.8 1 2\r\n"))
                == ProxyProtocolError(.invalidAddress(.destinationAddress, ipv6: true), at: 16))
    }

    @Test func ipv6TextMustBeWhole() {
        let refused = [
            ":", ":::", "1:::2", "1::2::3", ":1::", "1:2:3:4:5:6:7:8:", "1:2:3:4:5:6:7:8::", "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7", "12345::", "g::", "::1%eth0", "::1/128", "[::1]", "1::2:3:4:5:6:7:8", "::1.2.3",
            "::1.2.3.4.5", "::01.2.3.4", "::256.2.3.4", "1.2.3.4::", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4",
            "::ffff:1.2.3.4:1", "1::2:3:4:5:6:1.2.3.4", "::a.2.3.4", "",
        ]
        for text in refused {
            let outcome = decode(ascii("PROXY TCP6 \(text) ::1 1 2\r\n"))
            guard case .invalid(let error) = outcome.step else {
                Issue.record("\(text) accepted: \(outcome.step)")
                continue
            }
            #expect(error.reason == .invalidAddress(.sourceAddress, ipv6: true), "\(text)")
            #expect(IPAddressText.parseIPv6(text) == nil, "\(text)")
        }
    }

    @Test func portsWithoutLeadingZerosAndInRange() {
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 0443 1\r\n")) == ProxyProtocolError(.invalidPort(.sourcePort), at: 28))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 00 1\r\n")) == ProxyProtocolError(.invalidPort(.sourcePort), at: 28))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n")) == ProxyProtocolError(.invalidPort(.destinationPort), at: 33))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n")) == ProxyProtocolError(.invalidPort(.destinationPort), at: 34))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 -1 1\r\n")) == ProxyProtocolError(.invalidPort(.sourcePort), at: 27))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 +1 1\r\n")) == ProxyProtocolError(.invalidPort(.sourcePort), at: 27))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 0x1\r\n")) == ProxyProtocolError(.invalidPort(.destinationPort), at: 30))
        #expect(header(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 65535 0\r\n"))?.source?.port == 65535)
    }

    @Test func missingAndExtraFields() {
        #expect(
            error(ascii("PROXY TCP4 1.2.3.4\r\n"), decidedAfter: 20)
                == ProxyProtocolError(.missingField(.destinationAddress), at: 18))
        #expect(
            error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8\r\n"), decidedAfter: 28) == ProxyProtocolError(.missingField(.sourcePort), at: 26))
        #expect(
            error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), decidedAfter: 30)
                == ProxyProtocolError(.missingField(.destinationPort), at: 28))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n")) == ProxyProtocolError(.expectedLineEnd, at: 30))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n")) == ProxyProtocolError(.expectedLineEnd, at: 30))
    }

    @Test func onlyCRLFEndsTheLine() {
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")) == ProxyProtocolError(.badLineEnding, at: 30))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX")) == ProxyProtocolError(.badLineEnding, at: 31))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n")) == ProxyProtocolError(.badLineEnding, at: 31))
        #expect(error(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r")) == ProxyProtocolError(.badLineEnding, at: 30))
        #expect(error(ascii("PROXY UNKNOWN\n")) == ProxyProtocolError(.badLineEnding, at: 13))
        #expect(error(ascii("PROXY UNKNOWN abc\ndef\r\n")) == ProxyProtocolError(.badLineEnding, at: 17))
        #expect(error(ascii("PROXY UNKNOWN abc\rdef\r\n")) == ProxyProtocolError(.badLineEnding, at: 18))
        #expect(error(ascii("PROXY TCP4 1.2.3.4\n")) == ProxyProtocolError(.badLineEnding, at: 18))
    }

    @Test func noCRLFWithin107Bytes() {
        let full6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        // 108 bytes: one more than the longest line. Refused once 107 bytes are in, without a 108th.
        let long = ascii("PROXY UNKNOWN \(full6) \(full6) 655350 65535\r\n")
        #expect(long.count == 108)
        #expect(error(long, decidedAfter: 107) == ProxyProtocolError(.lineTooLong, at: 107))
        // The CR at offset 106 leaves no room for the LF.
        let crLast = Array(ascii("PROXY UNKNOWN \(full6) \(full6) 65535 65535\r\n").dropLast(2)) + ascii("0\r\n")
        #expect(error(crLast, decidedAfter: 107) == ProxyProtocolError(.lineTooLong, at: 107))
        // A line of spaces, and a flood of bytes in one read.
        #expect(error(ascii("PROXY UNKNOWN") + [UInt8](repeating: 0x20, count: 200), decidedAfter: 107)?.reason == .lineTooLong)
        var flood = ProxyHeaderDecoder()
        flood.receive(ascii("PROXY UNKNOWN ") + [UInt8](repeating: 0x41, count: 100_000))
        #expect(flood.next() == .invalid(ProxyProtocolError(.lineTooLong, at: 107)))
        // TCP6 with IPv4 tails: each address is valid, but the line does not fit.
        let tails = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
        #expect(error(ascii("PROXY TCP6 \(tails) \(tails) 65535 65535\r\n"), decidedAfter: 107)?.reason == .lineTooLong)
    }

    @Test func errorsDescribeWithoutEchoingBytes() {
        let outcome = decode(ascii("PROXY TCP4 1.2.3.4 \u{1B}[31m 1 2\r\n"))
        guard case .invalid(let error) = outcome.step else {
            Issue.record("accepted")
            return
        }
        #expect(error.description == "invalid PROXY protocol header at byte 19: v1 destination address is not a dotted quad without leading zeros (TCP4)")
        #expect(!error.description.contains("\u{1B}"))
    }
}

@Suite struct ProxyHeaderV2Tests {
    let client: [UInt8] = [192, 0, 2, 10]
    let server: [UInt8] = [198, 51, 100, 1]
    let client6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x0A]
    let server6: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x01]

    var ipv4Block: [UInt8] { client + server + [0xDC, 0x04, 0x04, 0x38] }  // ports 56324, 1080
    var ipv6Block: [UInt8] { client6 + server6 + [0xDC, 0x04, 0x04, 0x38] }

    @Test func proxyOverTCPv4WithASOCKSGreetingInTheSameSegment() {
        let outcome = decode(v2(0x21, 0x11, ipv4Block) + [0x05, 0x01, 0x00])
        #expect(
            outcome.step
                == .header(ProxyHeader(version: 2, command: .proxy, source: endpoint(client, 56324), destination: endpoint(server, 1080))))
        #expect(outcome.remaining == [0x05, 0x01, 0x00])
    }

    @Test func proxyOverTCPv6() {
        #expect(
            header(v2(0x21, 0x21, ipv6Block))
                == ProxyHeader(version: 2, command: .proxy, source: endpoint(client6, 56324), destination: endpoint(server6, 1080)))
    }

    @Test func localIgnoresTheAddressBlock() {
        let local = ProxyHeader(version: 2, command: .local, source: nil, destination: nil)
        #expect(header(v2(0x20, 0x00, [])) == local)  // what HAProxy's health checks send
        #expect(header(v2(0x20, 0x11, ipv4Block)) == local)
        #expect(header(v2(0x20, 0x21, ipv6Block + tlv(0x04, [0, 0]))) == local)
        #expect(header(v2(0x20, 0x00, tlv(0x05, ascii("unique-id")))) == local)
        // The family is ignored, so a block too short for it is skipped whole, unchecked.
        #expect(header(v2(0x20, 0x11, [])) == local)
        #expect(header(v2(0x20, 0x21, ipv4Block)) == local)
    }

    @Test func familiesWithoutTCPAddressesUseTheRealEndpoints() {
        let none = ProxyHeader(version: 2, command: .proxy, source: nil, destination: nil)
        #expect(header(v2(0x21, 0x00, [])) == none)  // UNSPEC
        #expect(header(v2(0x21, 0x01, [])) == none)  // UNSPEC family, STREAM
        #expect(header(v2(0x21, 0x00, tlv(0x02, ascii("example.com")))) == none)
        #expect(header(v2(0x21, 0x12, ipv4Block)) == none)  // UDP over IPv4
        #expect(header(v2(0x21, 0x22, ipv6Block)) == none)  // UDP over IPv6
        #expect(header(v2(0x21, 0x10, ipv4Block)) == none)  // INET, UNSPEC transport
        #expect(header(v2(0x21, 0x20, ipv6Block)) == none)
        let unixBlock = ascii("/run/client.sock") + [UInt8](repeating: 0, count: 92) + ascii("/run/socksd.sock") + [UInt8](repeating: 0, count: 92)
        #expect(unixBlock.count == 216)
        #expect(header(v2(0x21, 0x31, unixBlock)) == none)  // UNIX stream
        #expect(header(v2(0x21, 0x32, unixBlock + tlv(0x04, []))) == none)  // UNIX datagram
    }

    @Test func tlvsAreSkippedByLength() {
        let tlvs =
            tlv(0x01, ascii("h2")) + tlv(0x02, ascii("example.com")) + tlv(0x03, [0xDE, 0xAD, 0xBE, 0xEF]) + tlv(0x04, [])
            + tlv(0x05, [UInt8](repeating: 7, count: 40)) + tlv(0x20, [0x07, 0, 0, 0, 0] + tlv(0x21, ascii("TLSv1.3")))
            + tlv(0x30, ascii("netns")) + tlv(0xE0, [1]) + tlv(0xFF, [])
        let outcome = decode(v2(0x21, 0x11, ipv4Block + tlvs) + [0x05])
        #expect(
            outcome.step
                == .header(ProxyHeader(version: 2, command: .proxy, source: endpoint(client, 56324), destination: endpoint(server, 1080))))
        #expect(outcome.remaining == [0x05])
    }

    @Test func headLikeHAProxysSampleCode() {
        // Bytes 13-16 are 21 11 00 0C for TCP over IPv4: the sample's `hdr.v2.fam == 0x11`, `len` 12.
        #expect(Array(v2(0x21, 0x11, ipv4Block)[12..<16]) == [0x21, 0x11, 0x00, 0x0C])
        #expect(ProxyHeader(version: 2, command: .proxy, source: endpoint(client, 56324), destination: endpoint(server, 1080)).encoded() == v2(0x21, 0x11, ipv4Block))
    }

    @Test func signatureIsRefusedAtTheFirstWrongByte() {
        for offset in signature.indices.dropFirst() {
            var bytes = v2(0x21, 0x11, ipv4Block)
            bytes[offset] ^= 0x40
            #expect(error(bytes) == ProxyProtocolError(.notProxyProtocol, at: offset))
        }
        #expect(error([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0D]) == ProxyProtocolError(.notProxyProtocol, at: 11))
    }

    @Test func versionMustBeTwo() {
        #expect(error(v2(0x11, 0x11, ipv4Block)) == ProxyProtocolError(.unsupportedVersion(1), at: 12))
        #expect(error(v2(0x31, 0x11, ipv4Block)) == ProxyProtocolError(.unsupportedVersion(3), at: 12))
        #expect(error(v2(0x01, 0x11, ipv4Block)) == ProxyProtocolError(.unsupportedVersion(0), at: 12))
    }

    @Test func commandMustBeLocalOrProxy() {
        for command: UInt8 in 2...15 {
            #expect(error(v2(0x20 | command, 0x11, ipv4Block)) == ProxyProtocolError(.unsupportedCommand(command), at: 12))
        }
    }

    @Test func familyAndTransportMustBeDefined() {
        for family: UInt8 in 4...15 {
            #expect(error(v2(0x21, family << 4 | 1, ipv4Block)) == ProxyProtocolError(.unknownFamily(family), at: 13))
        }
        for transport: UInt8 in 3...15 {
            #expect(error(v2(0x21, 0x10 | transport, ipv4Block)) == ProxyProtocolError(.unknownTransport(transport), at: 13))
        }
        // Checked for LOCAL too: the values are undefined whatever the command.
        #expect(error(v2(0x20, 0x40, [])) == ProxyProtocolError(.unknownFamily(4), at: 13))
    }

    @Test func lengthShorterThanTheFamilysBlockIsRefusedOnceTheLengthIsIn() {
        // Decided with the 16-byte head, without waiting for the bytes it announces.
        let cases: [(UInt8, Int)] = [(0x11, 12), (0x12, 12), (0x10, 12), (0x21, 36), (0x22, 36), (0x31, 216), (0x32, 216)]
        for (familyAndTransport, needed) in cases {
            let bytes = v2(0x21, familyAndTransport, [UInt8](repeating: 0, count: needed - 1))
            #expect(
                error(bytes, decidedAfter: 16)
                    == ProxyProtocolError(.addressBlockTooShort(length: needed - 1, needed: needed), at: 14))
            #expect(
                error(v2(0x21, familyAndTransport, []), decidedAfter: 16)
                    == ProxyProtocolError(.addressBlockTooShort(length: 0, needed: needed), at: 14))
        }
    }

    @Test func tlvsMustNotOverrunTheLength() {
        // A TLV head cut short (1 or 2 bytes left), and a value longer than what is left.
        let headCut1 = v2(0x21, 0x11, ipv4Block + [0x04])
        #expect(error(headCut1, decidedAfter: headCut1.count) == ProxyProtocolError(.truncatedTLV, at: 28))
        let headCut2 = v2(0x21, 0x11, ipv4Block + tlv(0x04, []) + [0x04, 0x00])
        #expect(error(headCut2, decidedAfter: headCut2.count) == ProxyProtocolError(.truncatedTLV, at: 31))
        let overrun = v2(0x21, 0x11, ipv4Block + [0x02, 0x00, 0x05] + ascii("exam"))
        #expect(error(overrun, decidedAfter: overrun.count) == ProxyProtocolError(.truncatedTLV, at: 28))
        let unspec = v2(0x21, 0x00, [0x02, 0xFF, 0xFF, 0x00])
        #expect(error(unspec, decidedAfter: unspec.count) == ProxyProtocolError(.truncatedTLV, at: 16))
        let local = v2(0x20, 0x00, tlv(0x04, []) + [0x04, 0x00, 0x01])
        #expect(error(local, decidedAfter: local.count) == ProxyProtocolError(.truncatedTLV, at: 19))
        let unixBlock = [UInt8](repeating: 0, count: 216)
        let unix = v2(0x21, 0x31, unixBlock + [0x04, 0x00, 0x01])
        #expect(error(unix, decidedAfter: unix.count) == ProxyProtocolError(.truncatedTLV, at: 232))
    }

    @Test func hugeLengths() {
        // The largest header: 16 + 65,535 bytes, the address block and one NOOP TLV filling the rest.
        let noop = tlv(0x04, [UInt8](repeating: 0xAB, count: 65535 - 12 - 3))
        let bytes = v2(0x21, 0x11, ipv4Block + noop)
        #expect(bytes.count == ProxyHeaderDecoder.maximumHeaderLength)
        var decoder = ProxyHeaderDecoder()
        decoder.receive(bytes.dropLast())
        #expect(decoder.next() == .needMoreBytes)
        decoder.receive(bytes.suffix(1) + [0x05, 0x01, 0x00])
        #expect(decoder.next() == .header(ProxyHeader(version: 2, command: .proxy, source: endpoint(client, 56324), destination: endpoint(server, 1080))))
        #expect(decoder.takeRemainingBytes() == [0x05, 0x01, 0x00])
        // In 1,000-byte pieces, the same.
        #expect(run(stride(from: 0, to: bytes.count, by: 1000).map { bytes[$0..<min($0 + 1000, bytes.count)] }).step == run([bytes[...]]).step)
        // 65,535 with a TLV that claims one byte more than is left: refused once all of it is in.
        let overrun = v2(0x20, 0x00, [0x04, 0xFF, 0xFD] + [UInt8](repeating: 0, count: 65531))
        var refusing = ProxyHeaderDecoder()
        refusing.receive(overrun.dropLast())
        #expect(refusing.next() == .needMoreBytes)
        refusing.receive(overrun.suffix(1))
        #expect(refusing.next() == .invalid(ProxyProtocolError(.truncatedTLV, at: 16)))
        // A huge length with a short head is refused before its bytes arrive.
        #expect(run([v2(0x21, 0x11, [])[...].prefix(14) + [0xFF, 0xFF]]).step == .needMoreBytes)
        #expect(run([(v2(0x21, 0x31, [])[...].prefix(14) + [0x00, 0xD7])]).step == .invalid(ProxyProtocolError(.addressBlockTooShort(length: 215, needed: 216), at: 14)))
    }
}

@Suite struct ProxyHeaderDecoderTests {
    @Test func emptyInputNeedsMoreBytes() {
        var decoder = ProxyHeaderDecoder()
        #expect(decoder.next() == .needMoreBytes)
        decoder.receive([UInt8]())
        #expect(decoder.next() == .needMoreBytes)
        #expect(decoder.takeRemainingBytes().isEmpty)
    }

    @Test func remainingBytesAreHandedOverOnceAndLaterBytesFollow() {
        var decoder = ProxyHeaderDecoder()
        decoder.receive(ascii("PROXY UNKNOWN\r\n") + [1, 2])
        #expect(decoder.takeRemainingBytes().isEmpty, "nothing before the header is decoded")
        #expect(decoder.next() == .header(ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil)))
        #expect(decoder.takeRemainingBytes() == [1, 2])
        #expect(decoder.takeRemainingBytes().isEmpty)
        decoder.receive([3])
        #expect(decoder.takeRemainingBytes() == [3])
    }

    @Test func bytesAfterAnErrorAreDropped() {
        var decoder = ProxyHeaderDecoder()
        decoder.receive(ascii("HELLO"))
        #expect(decoder.next() == .invalid(ProxyProtocolError(.notProxyProtocol, at: 0)))
        decoder.receive(ascii("PROXY UNKNOWN\r\n"))
        #expect(decoder.next() == .invalid(ProxyProtocolError(.notProxyProtocol, at: 0)))
        #expect(decoder.takeRemainingBytes().isEmpty)
    }

    @Test func aSecondHeaderIsJustRemainingBytes() {
        let line = ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")
        #expect(decode(line + line).remaining == line)
    }

    @Test func encodedHeadersDecodeToThemselves() {
        let loopback6 = [UInt8](repeating: 0, count: 15) + [1]
        let headers = [
            ProxyHeader(version: 1, command: .proxy, source: endpoint([10, 0, 0, 1], 1), destination: endpoint([10, 0, 0, 2], 65535)),
            ProxyHeader(version: 1, command: .proxy, source: endpoint(loopback6, 0), destination: endpoint([UInt8](repeating: 0xFF, count: 16), 80)),
            ProxyHeader(version: 1, command: .proxy, source: nil, destination: nil),
            ProxyHeader(version: 2, command: .proxy, source: endpoint([10, 0, 0, 1], 1), destination: endpoint([10, 0, 0, 2], 2)),
            ProxyHeader(version: 2, command: .proxy, source: endpoint(loopback6, 3), destination: endpoint(loopback6, 4)),
            ProxyHeader(version: 2, command: .proxy, source: nil, destination: nil),
            ProxyHeader(version: 2, command: .local, source: nil, destination: nil),
        ]
        for header in headers {
            #expect(self.header(header.encoded()) == header, "\(header)")
        }
        #expect(headers[0].encoded() == ascii("PROXY TCP4 10.0.0.1 10.0.0.2 1 65535\r\n"))
        #expect(headers[1].encoded() == ascii("PROXY TCP6 ::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 0 80\r\n"))
        #expect(headers[2].encoded() == ascii("PROXY UNKNOWN\r\n"))
        #expect(headers[5].encoded() == v2(0x21, 0x00, []))
        #expect(headers[6].encoded() == v2(0x20, 0x00, []))
        // What no decoded header is: v1 LOCAL and mixed families go out as "no addresses".
        let mixed = ProxyHeader(version: 1, command: .proxy, source: endpoint([1, 2, 3, 4], 1), destination: endpoint(loopback6, 2))
        #expect(mixed.encoded() == ascii("PROXY UNKNOWN\r\n"))
        #expect(ProxyHeader(version: 2, command: .local, source: endpoint([1, 2, 3, 4], 1), destination: endpoint([1, 2, 3, 4], 2)).encoded() == v2(0x20, 0x00, []))
    }

    private func header(_ bytes: [UInt8]) -> ProxyHeader? {
        guard case .header(let header) = decode(bytes).step else { return nil }
        return header
    }

    @Test func endpointsDescribeThemselves() {
        #expect(endpoint([192, 0, 2, 1], 80).description == "192.0.2.1:80")
        #expect(endpoint([0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1], 443).description == "[2001:db8::1]:443")
    }
}

@Suite struct IPAddressTextTests {
    @Test func rfc5952Formatting() {
        let cases: [(String, String)] = [
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // the first of two equal runs
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // a single zero group stays
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // the longest run
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("FE80::ABCD", "fe80::abcd"),
            ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ]
        for (text, formatted) in cases {
            let bytes = IPAddressText.parseIPv6(text)
            #expect(bytes.map(IPAddressText.format) == formatted, "\(text)")
            #expect(IPAddressText.parseIPv6(formatted) == bytes)
        }
        #expect(IPAddressText.format([127, 0, 0, 1]) == "127.0.0.1")
        #expect(IPAddressText.parseIPv4("127.0.0.1") == [127, 0, 0, 1])
        #expect(IPAddressText.parseIPv4("127.0.0.01") == nil)
        #expect(IPAddressText.parseIPv4("") == nil)
    }
}
