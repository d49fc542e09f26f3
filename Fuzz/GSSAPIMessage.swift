import SOCKSProtocol

/// Fuzzes the RFC 1961 message framing (`GSSAPIMessage.parse`), and `SOCKSServerHandshake` through its
/// GSS-API states, which read those messages from a client before anything is authenticated.
///
/// Input: a `FuzzedStream`. The stream is read twice: as a sequence of GSS-API messages (as a server's
/// protected session reads them), and as a whole handshake with GSS-API offered (greeting, context tokens,
/// subnegotiation, request, encapsulated when the level's token starts with 01). Options bit 0: the driver
/// accepts the first context token as establishing the context (otherwise it asks for one more round first);
/// bit 1: it refuses the token instead; bit 2: users may log in by password too.
///
/// Invariants, beyond not crashing:
/// - the same messages (and the same error) whether the stream arrives in one read or in the fuzzer's chunks;
/// - each parsed message re-encodes to exactly the bytes it was read from; an abort is `01 FF` and nothing
///   more; a first byte other than `01` is refused as that version;
/// - the handshake takes the same steps whole and split, and a GSS-API failure is answered with `01 FF`.
func fuzzOneInput(_ input: [UInt8]) {
    let fuzzed = FuzzedStream(input)
    let whole = MessageRun(chunks: [fuzzed.stream[...]])
    let split = MessageRun(chunks: fuzzed.chunks(of: fuzzed.stream))
    expect(whole.messages == split.messages, "split reads changed the messages")
    expect(whole.error == split.error, "split reads changed the error: \(String(describing: whole.error)) vs \(String(describing: split.error))")
    whole.checkEncodings(of: fuzzed.stream)

    let handshakeWhole = GSSAPIHandshakeRun(chunks: [fuzzed.stream[...]], options: fuzzed.options)
    let handshakeSplit = GSSAPIHandshakeRun(chunks: fuzzed.chunks(of: fuzzed.stream), options: fuzzed.options)
    expect(handshakeWhole.steps == handshakeSplit.steps, "split reads changed the handshake: \(handshakeWhole.steps) vs \(handshakeSplit.steps)")
}

/// Messages read one after another from chunks, as a reader that keeps unconsumed bytes for the next read.
struct MessageRun {
    private(set) var messages: [GSSAPIMessage] = []
    private(set) var error: SOCKSProtocolError?
    /// How many bytes each message took.
    private(set) var sizes: [Int] = []

    init(chunks: [ArraySlice<UInt8>]) {
        var buffer: [UInt8] = []
        for chunk in chunks {
            buffer += chunk
            while error == nil {
                var reader = ByteReader(buffer[...])
                do {
                    guard let message = try GSSAPIMessage.parse(from: &reader) else { break }
                    messages.append(GSSAPIMessage(kind: message.kind, token: ArraySlice(Array(message.token))))
                    sizes.append(reader.consumed)
                    buffer.removeFirst(reader.consumed)
                } catch let failure {
                    error = failure
                }
            }
        }
    }

    /// Every message is its bytes in the stream, in order; the error, if any, names the version byte.
    func checkEncodings(of stream: [UInt8]) {
        var offset = 0
        for (message, size) in zip(messages, sizes) {
            let bytes = Array(stream[offset..<offset + size])
            expect(message.encoded() == bytes, "message \(message.kind) does not re-encode to its bytes")
            if message.kind == .abort { expect(bytes == [0x01, 0xFF], "an abort of \(bytes.count) bytes") }
            offset += size
        }
        if case .unsupportedVersion(let version)? = error {
            expect(offset < stream.count && stream[offset] == version && version != 0x01, "version error \(version) at \(offset)")
        } else if let error {
            expect(false, "unexpected error \(error)")
        }
    }
}

/// A handshake with GSS-API offered, driven to its end by a stand-in for the library.
struct GSSAPIHandshakeRun {
    enum Step: Equatable {
        case sent([UInt8])
        case accepted([UInt8])
        case negotiated([UInt8])
        case unwrapped([UInt8])
        case served(SOCKSRequest)
        case failed(reply: [UInt8]?, SOCKSHandshakeFailure)
        case ranOutOfBytes
    }

    private(set) var steps: [Step] = []

    init(chunks: [ArraySlice<UInt8>], options: UInt8) {
        var machine = SOCKSServerHandshake(requiresAuthentication: options & 0x04 != 0, offersGSSAPI: true)
        var pending = chunks[...]
        var rounds = 0
        // A token the stand-in for gss_unwrap refused: the machine closes without an answer (nothing can be
        // wrapped for a client whose messages do not unwrap), unlike every other GSS-API failure.
        var unwrapRefused = false
        var action = machine.next()
        drive: while true {
            // Every step consumes bytes, but an empty context token may be answered round after round.
            expect(steps.count <= 16 + 2 * chunks.reduce(0) { $0 + $1.count }, "endless handshake: \(steps)")
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
            case .verifyCredentials:
                action = machine.credentialsVerified(false)
            case .acceptSecurityContext(let token):
                steps.append(.accepted(token))
                rounds += 1
                if options & 0x02 != 0 {
                    action = machine.securityContextStep(.refused("refused by the fuzzer"))
                } else if options & 0x01 != 0 || rounds > 1 {
                    action = machine.securityContextStep(.established(Array(token.reversed())))
                } else {
                    action = machine.securityContextStep(.continueNeeded(token))
                }
            case .negotiateProtection(let token):
                steps.append(.negotiated(token))
                action = token.count == 1 && token[0] > 2
                    ? machine.protectionRefused("no such level") : machine.protectionChosen(reply: token, encapsulated: token.first == 1)
            case .unwrap(let token):
                // The stand-in for gss_unwrap: a token starting with 00 is refused, any other is its own plaintext.
                steps.append(.unwrapped(token))
                unwrapRefused = token.first == 0
                action = unwrapRefused ? machine.unwrapFailed("refused by the fuzzer") : machine.requestUnwrapped(token)
            case .request(let request):
                steps.append(.served(request))
                break drive
            case .fail(let reply, let failure):
                if case .gssapiFailed(let reason) = failure, reason != "the client aborted" {
                    if unwrapRefused {
                        expect(reply == nil, "a refused unwrap answered \(String(describing: reply))")
                    } else {
                        expect(reply == GSSAPIMessage.abortBytes, "a GSS-API failure answered \(String(describing: reply))")
                    }
                }
                steps.append(.failed(reply: reply, failure))
                break drive
            }
        }
    }
}
