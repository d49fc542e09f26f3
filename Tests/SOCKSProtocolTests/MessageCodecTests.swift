import Testing
@testable import SOCKSProtocol

/// Parses `bytes` whole, then checks that every shorter prefix asks for more bytes instead of failing.
func parseIncrementally<Message: Equatable>(
    _ bytes: [UInt8], _ parser: (inout ByteReader) throws(SOCKSProtocolError) -> Message?
) throws -> Message? {
    for cut in 0..<bytes.count {
        var reader = ByteReader(bytes[0..<cut])
        #expect(try parser(&reader) == nil, "prefix of \(cut) bytes should need more")
    }
    var reader = ByteReader(bytes[...])
    let message = try parser(&reader)
    #expect(reader.remaining == 0)
    return message
}

struct EndpointFixture: Sendable, CustomTestStringConvertible {
    let endpoint: SOCKSEndpoint
    let wire: [UInt8]
    var testDescription: String { endpoint.description }

    static let all: [EndpointFixture] = [
        EndpointFixture(endpoint: SOCKSEndpoint(address: .ipv4([192, 0, 2, 1]), port: 80),
                        wire: [0x01, 192, 0, 2, 1, 0x00, 0x50]),
        EndpointFixture(endpoint: SOCKSEndpoint(address: .ipv6([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]), port: 443),
                        wire: [0x04, 0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1, 0x01, 0xbb]),
        EndpointFixture(endpoint: SOCKSEndpoint(address: .domain("example.com"), port: 8080),
                        wire: [0x03, 11] + Array("example.com".utf8) + [0x1f, 0x90]),
    ]
}

@Suite struct MessageCodecTests {
    @Test(arguments: [
        SOCKSEndpoint(address: .ipv4([192, 0, 2, 1]), port: 80),
        SOCKSEndpoint(address: .ipv6(Array(1...16)), port: 443),
        SOCKSEndpoint(address: .domain("example.com"), port: 8080),
        SOCKSEndpoint(address: .domain(String(repeating: "a", count: 300)), port: 1),
    ])
    func replyEncodedIntoABufferIsTheEncodedReply(bound: SOCKSEndpoint) {
        let reply = SOCKSReply(code: .succeeded, bound: bound)
        var buffer: [UInt8] = [9, 9]
        reply.encode(into: &buffer)
        #expect(buffer == [9, 9] + reply.encoded())
        #expect(reply.encoded().count == 3 + bound.encodedCount)
        #expect(SOCKSRequest(command: .connect, destination: bound).encoded().count == 3 + bound.encodedCount)
    }

    @Test func greetingIsByteExact() throws {
        let greeting = SOCKSGreeting(methods: [.noAuthentication, .usernamePassword])
        #expect(greeting.encoded() == [0x05, 0x02, 0x00, 0x02])
        #expect(try parseIncrementally(greeting.encoded(), SOCKSGreeting.parse) == greeting)
    }

    @Test func greetingWithWrongVersionIsRejected() {
        var reader = ByteReader([0x04, 0x01, 0x00][...])
        #expect(throws: SOCKSProtocolError.unsupportedVersion(4)) { try SOCKSGreeting.parse(from: &reader) }
    }

    @Test func methodSelectionIsByteExact() throws {
        let selection = SOCKSMethodSelection(method: .noAcceptableMethods)
        #expect(selection.encoded() == [0x05, 0xFF])
        #expect(try parseIncrementally(selection.encoded(), SOCKSMethodSelection.parse) == selection)
    }

    @Test func credentialsAreByteExact() throws {
        let credentials = SOCKSCredentials(username: "alice", password: "s3cret")
        #expect(credentials.encoded() == [0x01, 5] + Array("alice".utf8) + [6] + Array("s3cret".utf8))
        #expect(try parseIncrementally(credentials.encoded(), SOCKSCredentials.parse) == credentials)
        #expect(!credentials.description.contains("s3cret"))
    }

    @Test func emptyUsernameIsRejected() {
        var reader = ByteReader([0x01, 0x00, 0x01, 0x61][...])
        #expect(throws: SOCKSProtocolError.emptyCredential) { try SOCKSCredentials.parse(from: &reader) }
    }

    @Test func authenticationStatusIsByteExact() throws {
        #expect(SOCKSAuthenticationStatus.success.encoded() == [0x01, 0x00])
        #expect(SOCKSAuthenticationStatus.failure.encoded() == [0x01, 0x01])
        #expect(try parseIncrementally([0x01, 0x01], SOCKSAuthenticationStatus.parse)?.succeeded == false)
    }

    @Test(arguments: EndpointFixture.all)
    func requestIsByteExact(fixture: EndpointFixture) throws {
        let request = SOCKSRequest(command: .connect, destination: fixture.endpoint)
        #expect(request.encoded() == [0x05, 0x01, 0x00] + fixture.wire)
        #expect(try parseIncrementally(request.encoded(), SOCKSRequest.parse) == request)
    }

    @Test(arguments: EndpointFixture.all)
    func replyIsByteExact(fixture: EndpointFixture) throws {
        let reply = SOCKSReply(code: .connectionRefused, bound: fixture.endpoint)
        #expect(reply.encoded() == [0x05, 0x05, 0x00] + fixture.wire)
        #expect(try parseIncrementally(reply.encoded(), SOCKSReply.parse) == reply)
    }

    @Test(arguments: EndpointFixture.all)
    func udpHeaderIsByteExact(fixture: EndpointFixture) throws {
        let header = SOCKSUDPHeader(fragment: 0, endpoint: fixture.endpoint)
        let datagram = header.encoded() + [0xAA, 0xBB]
        #expect(header.encoded() == [0, 0, 0] + fixture.wire)
        let (parsed, payloadStart) = try SOCKSUDPHeader.parse(datagram: datagram[...])
        #expect(parsed == header)
        #expect(Array(datagram[payloadStart...]) == [0xAA, 0xBB])
    }

    @Test func truncatedUDPHeaderIsRejected() {
        let datagram: [UInt8] = [0, 0, 0, 0x01, 127, 0, 0]
        #expect(throws: SOCKSProtocolError.truncated) { try SOCKSUDPHeader.parse(datagram: datagram[...]) }
    }

    @Test func udpHeaderKeepsTheFragmentNumber() throws {
        let datagram: [UInt8] = [0, 0, 3, 0x01, 127, 0, 0, 1, 0, 53]
        #expect(try SOCKSUDPHeader.parse(datagram: datagram[...]).header.fragment == 3)
    }

    @Test func unknownAddressTypeIsRejected() {
        var reader = ByteReader([0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80][...])
        #expect(throws: SOCKSProtocolError.unsupportedAddressType(5)) { try SOCKSRequest.parse(from: &reader) }
        #expect(SOCKSProtocolError.unsupportedAddressType(5).replyCode == .addressTypeNotSupported)
    }

    @Test func emptyOrNulDomainIsRejected() {
        var empty = ByteReader([0x05, 0x01, 0x00, 0x03, 0x00, 0, 80][...])
        #expect(throws: SOCKSProtocolError.invalidDomainName([])) { try SOCKSRequest.parse(from: &empty) }
        var nul = ByteReader([0x05, 0x01, 0x00, 0x03, 0x02, 0x61, 0x00, 0, 80][...])
        #expect(throws: SOCKSProtocolError.invalidDomainName([0x61, 0x00])) { try SOCKSRequest.parse(from: &nul) }
    }

    @Test func unknownCommandStillParses() throws {
        // The command set is open: the server, not the parser, answers 07 to commands it does not serve.
        let bytes: [UInt8] = [0x05, 0x09, 0x00, 0x01, 127, 0, 0, 1, 0, 80]
        #expect(try parseIncrementally(bytes, SOCKSRequest.parse)?.command == SOCKSCommand(rawValue: 9))
    }

    @Test func addressDescriptions() {
        #expect(SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 80).description == "127.0.0.1:80")
        #expect(SOCKSEndpoint(address: .domain("localhost"), port: 1).description == "localhost:1")
        #expect(EndpointFixture.all[1].endpoint.description == "[2001:db8:0:0:0:0:0:1]:443")
    }
}

@Suite struct ReplyCodeTests {
    @Test func hexHasTwoDigits() {
        #expect(SOCKSReplyCode.connectionRefused.hex == "05")
        #expect(SOCKSReplyCode(rawValue: 0xA7).hex == "a7")
    }
}
