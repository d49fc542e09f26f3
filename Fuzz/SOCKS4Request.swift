import SOCKSProtocol

/// Fuzzes `SOCKS4RequestDecoder` (and so `SOCKS4Request.parse`) as `SOCKSSession` drives it: feed reads
/// until a request or a failure.
///
/// Input: a `FuzzedStream` of client bytes (no options).
///
/// Invariants, beyond not crashing:
/// - the same outcome and the same early data whether the bytes arrive in one read or in the fuzzer's chunks;
/// - a request consumed exactly its bytes: they re-encode to the bytes read (the 4a address `0.0.0.x` aside,
///   which re-encodes as `0.0.0.1`), the user id and the name are within `SOCKS4Request.fieldLimit` and hold
///   no NUL, a name is a host name by the rule (`isHostName`), and what follows is early data; a refused
///   name carries its bytes and is no host name;
/// - a failure has the reply its kind calls for: none for a version other than 04, `00 5B` and six zeros
///   otherwise; and a decoder that ended repeats its outcome (a failure without a second reply).
func fuzzOneInput(_ input: [UInt8]) {
    let fuzzed = FuzzedStream(input)
    let whole = DecoderRun(chunks: [fuzzed.stream[...]])
    let split = DecoderRun(chunks: fuzzed.chunks(of: fuzzed.stream))
    expect(whole.outcome == split.outcome, "split reads changed the outcome: \(split.outcome) vs \(whole.outcome)")
    expect(whole.earlyData == split.earlyData, "split reads changed the early data")
    whole.check(against: fuzzed.stream)
}

/// One decoder fed chunk by chunk to its end.
struct DecoderRun {
    private(set) var outcome: SOCKS4RequestDecoder.Action = .needMoreBytes
    /// After a request: the bytes the decoder kept, then every chunk it was never given.
    private(set) var earlyData: [UInt8] = []

    init(chunks: [ArraySlice<UInt8>]) {
        var decoder = SOCKS4RequestDecoder()
        var pending = chunks[...]
        while true {
            let action = decoder.next()
            switch action {
            case .needMoreBytes:
                guard let chunk = pending.popFirst() else {
                    outcome = .needMoreBytes
                    return
                }
                decoder.receive(chunk)
            case .request(let request):
                outcome = action
                earlyData = decoder.takeEarlyData() + pending.joined()
                expect(decoder.bufferedByteCount == 0, "takeEarlyData left bytes behind")
                expect(decoder.next() == .request(request), "a finished decoder changed its request")
                return
            case .fail(_, let error):
                outcome = action
                expect(decoder.next() == .fail(reply: nil, error), "a failed decoder did not repeat its failure without a reply")
                return
            }
        }
    }

    func check(against stream: [UInt8]) {
        switch outcome {
        case .needMoreBytes:
            expect(stream.isEmpty || stream[0] == 0x04, "a stream that is not SOCKS4 was left waiting")
        case .fail(let reply, let error):
            if case .invalidHostname(let name) = error {
                expect(!isHostName(name), "host name \(name) refused")
                // The name follows the user id's NUL, and has its own.
                let userEnd = stream.count > 8 ? stream[8...].firstIndex(of: 0) : nil
                expect(userEnd.map { stream[($0 + 1)...].starts(with: name + [0]) } == true, "the error does not carry the name's bytes")
            }
            if case .unsupportedVersion(let version) = error {
                expect(reply == nil && version != 0x04, "\(error) with reply \(String(describing: reply))")
            } else {
                expect(reply == [0x00, 0x5B, 0, 0, 0, 0, 0, 0], "\(error) with reply \(String(describing: reply))")
            }
        case .request(let request):
            let consumed = Array(stream[..<(stream.count - earlyData.count)])
            expect(stream[consumed.count...].elementsEqual(earlyData), "early data is not the stream's tail")
            expect(request.userID.count <= SOCKS4Request.fieldLimit && !request.userID.contains(0), "user id \(request.userID)")
            var expected = request.encoded()
            if case .domain(let name) = request.destination.address {
                expect(isHostName(Array(name.utf8)), "a 4a name that is no host name was taken: \(Array(name.utf8))")
                expect(consumed.count >= 8 && consumed[4..<7] == [0, 0, 0] && consumed[7] != 0, "a name from an address that is not 0.0.0.x")
                // The 4a marker: any 0.0.0.x (x ≠ 0) is read, 0.0.0.1 is written.
                if expected.count >= 8 { expected[7] = consumed[7] }
            }
            expect(consumed == expected, "request \(request) does not re-encode to the bytes read")
        }
    }
}
