import SOCKSProtocol

/// Fuzzes `SOCKSServerHandshake` driven as `SOCKSSession.handshake` drives it: read, feed, answer, until a
/// request or a failure.
///
/// Input: a `FuzzedStream` of client bytes. Options bit 0: the server requires username/password; bit 1: the
/// credentials are accepted (otherwise refused).
///
/// Invariants, beyond not crashing:
/// - the same actions and the same early data whether the bytes arrive in one read or in the fuzzer's chunks
///   (early data counts the chunks not yet delivered when the request completed);
/// - the actions follow the protocol: `05 00` or `05 02`, then (with a login) one check of the credentials and
///   `01 00`, then the request; every failure has the reply its phase calls for, and none is `.outOfOrder`;
/// - a served request consumed exactly the greeting, the credentials and the request, which re-encode to
///   exactly the bytes read (a name is a host name by the rule, `isHostName`); what follows is early data; a
///   refused name carries its bytes and is no host name;
/// - a finished handshake stays finished: `next()` repeats its outcome, and a stray `credentialsVerified` is
///   refused as out of order without changing the state.
func fuzzOneInput(_ input: [UInt8]) {
    let fuzzed = FuzzedStream(input)
    let requiresAuthentication = fuzzed.options & 0x01 != 0
    let acceptsCredentials = fuzzed.options & 0x02 != 0
    let whole = HandshakeRun(
        chunks: [fuzzed.stream[...]], requiresAuthentication: requiresAuthentication, acceptsCredentials: acceptsCredentials)
    let split = HandshakeRun(
        chunks: fuzzed.chunks(of: fuzzed.stream), requiresAuthentication: requiresAuthentication,
        acceptsCredentials: acceptsCredentials)
    expect(split.steps == whole.steps, "split reads changed the actions: \(split.steps) vs \(whole.steps)")
    expect(split.earlyData == whole.earlyData, "split reads changed the early data")
    whole.checkProtocolOrder()
    whole.checkConsumedBytes(of: fuzzed.stream)
}

/// One handshake driven to its end, as a list of what the server did.
struct HandshakeRun {
    /// What the driver saw, in order.
    enum Step: Equatable {
        case sent([UInt8])
        case verified(SOCKSCredentials, accepted: Bool)
        case served(SOCKSRequest, user: SOCKSCredentials?)
        case failed(reply: [UInt8]?, SOCKSHandshakeFailure)
        /// The machine wanted more bytes after the last chunk: the client would have closed.
        case ranOutOfBytes
    }

    let requiresAuthentication: Bool
    let acceptsCredentials: Bool
    private(set) var steps: [Step] = []
    /// After a served request: the bytes the machine kept, then every chunk it was never given.
    private(set) var earlyData: [UInt8] = []

    /// The method the server insists on.
    var wantedMethod: UInt8 { requiresAuthentication ? 0x02 : 0x00 }

    init(chunks: [ArraySlice<UInt8>], requiresAuthentication: Bool, acceptsCredentials: Bool) {
        self.requiresAuthentication = requiresAuthentication
        self.acceptsCredentials = acceptsCredentials
        var machine = SOCKSServerHandshake(requiresAuthentication: requiresAuthentication)
        var pending = chunks[...]
        var action = machine.next()
        drive: while true {
            // A handshake has at most four steps before its end; more means the machine is going round.
            expect(steps.count <= 4, "endless handshake: \(steps)")
            switch action {
            case .needMoreBytes:
                guard let chunk = pending.popFirst() else {
                    steps.append(.ranOutOfBytes)
                    break drive
                }
                machine.receive(chunk)
                action = machine.next()
            case .send(let bytes):
                steps.append(.sent(bytes))
                action = machine.next()
            case .verifyCredentials(let credentials):
                steps.append(.verified(credentials, accepted: acceptsCredentials))
                action = machine.credentialsVerified(acceptsCredentials)
            case .request(let request):
                steps.append(.served(request, user: machine.authenticatedUser))
                let buffered = machine.bufferedByteCount
                earlyData = machine.takeEarlyData()
                expect(earlyData.count == buffered, "bufferedByteCount \(buffered) but \(earlyData.count) early bytes")
                expect(machine.bufferedByteCount == 0, "takeEarlyData left bytes behind")
                earlyData += pending.joined()
                break drive
            case .fail(let reply, let failure):
                steps.append(.failed(reply: reply, failure))
                break drive
            case .acceptSecurityContext, .negotiateProtection, .unwrap:
                expect(false, "GSS-API steps when GSS-API was not offered: \(action)")
                break drive
            }
        }
        checkEndIsFinal(of: &machine)
    }

    /// Once finished (or starved), the machine repeats itself and refuses a verdict nobody asked for.
    private func checkEndIsFinal(of machine: inout SOCKSServerHandshake) {
        let repeated: SOCKSServerHandshake.Action
        switch steps.last {
        case .served(let request, _): repeated = .request(request)
        case .failed(_, let failure): repeated = .fail(reply: nil, failure)
        case .ranOutOfBytes: repeated = .needMoreBytes
        case .sent, .verified, nil: fatalError("a run ends with its outcome")
        }
        expect(machine.next() == repeated, "next() after the end is not \(repeated)")
        expect(machine.credentialsVerified(true) == .fail(reply: nil, .outOfOrder), "a stray verdict was taken")
        expect(machine.next() == repeated, "a stray verdict changed the state")
    }

    /// The steps are a path through the protocol, with the right reply for a failure in each phase.
    func checkProtocolOrder() {
        var rest = steps[...]
        var credentials: SOCKSCredentials?
        // Greeting phase: the method selection, or a failure before it.
        if case .sent(let selection) = rest.first {
            expect(selection == [0x05, wantedMethod], "method selection \(selection)")
            rest.removeFirst()
            if requiresAuthentication {
                // Login phase: one verdict, then `01 00` if it was yes.
                if case .verified(let offered, let accepted) = rest.first {
                    expect(!offered.username.isEmpty && !offered.password.isEmpty, "empty credential verified")
                    credentials = offered
                    rest.removeFirst()
                    if accepted {
                        expect(rest.first == .sent([0x01, 0x00]), "no success status after an accepted login")
                        rest.removeFirst()
                    } else {
                        let failure = SOCKSHandshakeFailure.authenticationFailed(username: offered.usernameText)
                        expect(rest == [.failed(reply: [0x01, 0x01], failure)], "refused login: \(rest)")
                        return
                    }
                } else {
                    checkEnd(rest, phase: .credentials)
                    return
                }
            }
            checkEnd(rest, phase: .request, user: credentials)
        } else {
            checkEnd(rest, phase: .greeting)
        }
    }

    private enum Phase { case greeting, credentials, request }

    /// The last step: a served request (in the request phase only) or a failure with the phase's reply.
    private func checkEnd(_ rest: ArraySlice<Step>, phase: Phase, user: SOCKSCredentials? = nil) {
        expect(rest.count == 1, "steps after the outcome: \(rest)")
        switch rest.first! {
        case .ranOutOfBytes:
            break
        case .served(let request, let authenticatedUser):
            expect(phase == .request, "request served in phase \(phase)")
            expect(authenticatedUser == user, "authenticated user \(String(describing: authenticatedUser))")
            checkWellFormed(request.destination)
        case .failed(let reply, let failure):
            switch (phase, failure) {
            case (.greeting, .noAcceptableMethod(let offered)):
                expect(reply == [0x05, 0xFF] && !offered.contains(wantedMethod), "\(failure) with \(String(describing: reply))")
            case (.greeting, .malformed(.unsupportedVersion)):
                expect(reply == nil, "a greeting that is not SOCKS5 got a reply")
            case (.credentials, .malformed(.unsupportedVersion)), (.credentials, .malformed(.emptyCredential)):
                expect(reply == [0x01, 0x01], "bad login message got \(String(describing: reply))")
            case (.request, .malformed(.unsupportedVersion)):
                expect(reply == nil, "a request that is not SOCKS5 got a reply")
            case (.request, .malformed(let error)):
                switch error {
                case .unsupportedAddressType(let type): expect(![0x01, 0x03, 0x04].contains(type), "\(error)")
                case .invalidDomainName(let name): expect(name.isEmpty || !isHostName(name), "host name \(name) refused")
                default: expect(false, "unexpected request error \(error)")
                }
                expect(reply == SOCKSReply(code: error.replyCode).encoded(), "\(error) got \(String(describing: reply))")
            default:
                expect(false, "failure \(failure) in phase \(phase)")
            }
        case .sent, .verified:
            expect(false, "the run ended in the middle: \(rest)")
        }
    }

    /// An address as the protocol allows it: 4 or 16 bytes, or a host name by the rule.
    private func checkWellFormed(_ endpoint: SOCKSEndpoint) {
        switch endpoint.address {
        case .ipv4(let bytes): expect(bytes.count == 4, "IPv4 of \(bytes.count) bytes")
        case .ipv6(let bytes): expect(bytes.count == 16, "IPv6 of \(bytes.count) bytes")
        case .domain(let name): expect(isHostName(Array(name.utf8)), "bad name \(Array(name.utf8))")
        }
    }

    /// After a served request, the bytes before the early data are exactly greeting + credentials + request.
    func checkConsumedBytes(of stream: [UInt8]) {
        guard case .served(let request, let user) = steps.last else { return }
        let consumed = stream[..<(stream.count - earlyData.count)]
        expect(stream[consumed.endIndex...].elementsEqual(earlyData), "early data is not the stream's tail")
        // The greeting as the client sent it: 05 NMETHODS METHODS, offering the wanted method.
        expect(consumed.count >= 2 && consumed[0] == 0x05, "consumed bytes do not start with a greeting")
        let greetingEnd = 2 + Int(consumed[1])
        expect(consumed.count >= greetingEnd, "greeting cut short")
        expect(consumed[2..<greetingEnd].contains(wantedMethod), "served without the wanted method offered")
        var position = greetingEnd
        if let user {
            let login = user.encoded()
            expect(consumed[position...].starts(with: login), "credentials do not re-encode to the bytes read")
            position += login.count
        }
        let raw = consumed[position...]
        var expected = request.encoded()
        // The reserved byte is read but not checked (as most servers do); re-encoding writes 00.
        expect(raw.count >= 3, "request cut short")
        expected[2] = raw[raw.startIndex + 2]
        expect(raw.elementsEqual(expected), "request \(request) does not re-encode to the bytes read")
    }
}
