import Testing
@testable import SOCKSProtocol

/// RFC 1961 in the sans-I/O handshake: the method choice, context tokens, the subnegotiation and the abort
/// message, and the framing of `GSSAPIMessage`.
@Suite struct GSSAPIHandshakeTests {
    static let request: [UInt8] = [0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50]

    /// A server offering GSS-API chooses 01 when offered (curl's `05 02 00 01`), passes the token on,
    /// frames the answer, and reads the request after the level is chosen; byte by byte, the same.
    @Test(arguments: [false, true]) func aLoginAtLevelZero(byteByByte: Bool) {
        let client: [UInt8] = [0x05, 0x02, 0x00, 0x01] + [0x01, 0x01, 0x00, 0x02, 0xAA, 0xBB] + [0x01, 0x02, 0x00, 0x01, 0x00] + Self.request
        var machine = SOCKSServerHandshake(requiresAuthentication: false, offersGSSAPI: true)
        var steps: [SOCKSServerHandshake.Action] = []
        var remaining = byteByByte ? client.map { [$0] }[...] : [client][...]
        var action = machine.next()
        loop: while true {
            switch action {
            case .needMoreBytes:
                guard let chunk = remaining.popFirst() else { break loop }
                machine.receive(chunk)
                action = machine.next()
            case .send:
                steps.append(action)
                action = machine.next()
            case .acceptSecurityContext(let token):
                steps.append(action)
                action = machine.securityContextStep(.established(token.reversed()))
            case .negotiateProtection:
                steps.append(action)
                action = machine.protectionChosen(reply: [0x00])
            default:
                steps.append(action)
                break loop
            }
        }
        #expect(steps == [
            .send([0x05, 0x01]), .acceptSecurityContext([0xAA, 0xBB]), .send([0x01, 0x01, 0x00, 0x02, 0xBB, 0xAA]),
            .negotiateProtection([0x00]), .send([0x01, 0x02, 0x00, 0x01, 0x00]),
            .request(SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 80))),
        ])
    }

    /// Without users, GSS-API is the only method: "no authentication" alone gets `05 FF`; with users, a
    /// client that does not offer 01 logs in by password.
    @Test func gssapiMakesALoginRequired() {
        var alone = SOCKSServerHandshake(requiresAuthentication: false, offersGSSAPI: true)
        alone.receive([0x05, 0x01, 0x00])
        #expect(alone.next() == .fail(reply: [0x05, 0xFF], .noAcceptableMethod(offered: [0x00])))
        var beside = SOCKSServerHandshake(requiresAuthentication: true, offersGSSAPI: true)
        beside.receive([0x05, 0x02, 0x00, 0x02])
        #expect(beside.next() == .send([0x05, 0x02]))
        var notOffered = SOCKSServerHandshake(requiresAuthentication: false)
        notOffered.receive([0x05, 0x01, 0x01])
        #expect(notOffered.next() == .fail(reply: [0x05, 0xFF], .noAcceptableMethod(offered: [0x01])))
    }

    /// A refused token, a message of the wrong type and a bad version get `01 FF`; the client's own abort
    /// gets nothing.
    @Test func failuresAreAnsweredWithTheAbortMessage() {
        func started() -> SOCKSServerHandshake {
            var machine = SOCKSServerHandshake(requiresAuthentication: false, offersGSSAPI: true)
            machine.receive([0x05, 0x01, 0x01])
            _ = machine.next()
            return machine
        }
        var refused = started()
        refused.receive([0x01, 0x01, 0x00, 0x01, 0x00])
        #expect(refused.next() == .acceptSecurityContext([0x00]))
        #expect(refused.securityContextStep(.refused("bad")) == .fail(reply: [0x01, 0xFF], .gssapiFailed("bad")))
        var wrongType = started()
        wrongType.receive([0x01, 0x03, 0x00, 0x00])
        #expect(wrongType.next() == .fail(reply: [0x01, 0xFF], .gssapiFailed("message type 0x03 where 0x01 was expected")))
        var badVersion = started()
        badVersion.receive([0x05, 0x01, 0x00, 0x00])
        #expect(badVersion.next() == .fail(reply: [0x01, 0xFF], .malformed(.unsupportedVersion(0x05))))
        var aborted = started()
        aborted.receive([0x01, 0xFF])
        #expect(aborted.next() == .fail(reply: nil, .gssapiFailed("the client aborted")))
    }

    /// Above level 0 the request comes encapsulated: type-3 messages unwrapped by the caller, the request
    /// parsed across two of them, the plaintext after it early data, the messages after it left encapsulated;
    /// a malformed encapsulated request gets a plaintext reply for the caller to wrap.
    @Test func anEncapsulatedRequest() {
        var machine = SOCKSServerHandshake(requiresAuthentication: false, offersGSSAPI: true)
        machine.receive([0x05, 0x01, 0x01, 0x01, 0x01, 0x00, 0x01, 0xAA, 0x01, 0x02, 0x00, 0x01, 0x02])
        #expect(machine.next() == .send([0x05, 0x01]))
        #expect(machine.next() == .acceptSecurityContext([0xAA]))
        #expect(machine.securityContextStep(.established([])) == .negotiateProtection([0x02]))
        #expect(machine.protectionChosen(reply: [0x02], encapsulated: true) == .send([0x01, 0x02, 0x00, 0x01, 0x02]))
        #expect(machine.next() == .needMoreBytes)
        // "Wrapped" here is the plaintext itself: the caller's unwrapping is the identity.
        let first = Array(Self.request.prefix(4)), second = Array(Self.request.dropFirst(4)) + [0x42]
        machine.receive([0x01, 0x03, 0x00, UInt8(first.count)] + first + [0x01, 0x03, 0x00, UInt8(second.count)] + second + [0x01, 0x03, 0x00, 0x01, 0x43])
        #expect(machine.next() == .unwrap(first))
        #expect(machine.requestUnwrapped(first) == .unwrap(second))
        #expect(machine.requestUnwrapped(second) == .request(SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .ipv4([127, 0, 0, 1]), port: 80))))
        #expect(machine.takeUnwrappedEarlyData() == [0x42])
        #expect(machine.takeEarlyData() == [0x01, 0x03, 0x00, 0x01, 0x43])

        var malformed = SOCKSServerHandshake(requiresAuthentication: false, offersGSSAPI: true)
        malformed.receive([0x05, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01, 0x01, 0x01, 0x03, 0x00, 0x04, 0x05, 0x01, 0x00, 0x07])
        _ = malformed.next()
        _ = malformed.next()
        _ = malformed.securityContextStep(.established([]))
        _ = malformed.protectionChosen(reply: [0x01], encapsulated: true)
        #expect(malformed.next() == .unwrap([0x05, 0x01, 0x00, 0x07]))
        #expect(malformed.requestUnwrapped([0x05, 0x01, 0x00, 0x07]) == .fail(reply: [0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0], .malformed(.unsupportedAddressType(0x07))))
        var forged = SOCKSServerHandshake(requiresAuthentication: false, offersGSSAPI: true)
        forged.receive([0x05, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01, 0x01, 0x01, 0x03, 0x00, 0x01, 0x00])
        _ = forged.next()
        _ = forged.next()
        _ = forged.securityContextStep(.established([]))
        _ = forged.protectionChosen(reply: [0x01], encapsulated: true)
        #expect(forged.next() == .unwrap([0x00]))
        #expect(forged.unwrapFailed("bad checksum") == .fail(reply: nil, .gssapiFailed("bad checksum")))
    }

    /// The framing: ver 1, type, a big-endian length, the token; the abort message is two octets.
    @Test func framing() throws {
        let message = GSSAPIMessage(kind: .encapsulation, token: Array(repeating: 7, count: 300)[...])
        let bytes = message.encoded()
        #expect(bytes.prefix(4) == [0x01, 0x03, 0x01, 0x2C])
        var reader = ByteReader(bytes[...])
        #expect(try GSSAPIMessage.parse(from: &reader) == message)
        var short = ByteReader(bytes.dropLast()[...])
        #expect(try GSSAPIMessage.parse(from: &short) == nil)
        #expect(GSSAPIMessage(kind: .abort, token: []).encoded() == [0x01, 0xFF])
        #expect(GSSAPIProtection.granted(requested: 0, minimum: .none) == GSSAPIProtection.none)
        #expect(GSSAPIProtection.granted(requested: 0, minimum: .integrity) == .integrity)
        #expect(GSSAPIProtection.granted(requested: 2, minimum: .integrity) == .confidentiality)
        #expect(GSSAPIProtection.granted(requested: 3, minimum: .none) == .integrity)
        #expect(GSSAPIProtection.granted(requested: 4, minimum: .none) == nil)
    }
}
