import SOCKSProtocol

/// Fuzzes `SOCKSUDPHeader.parse(datagram:)`, which reads every datagram a UDP ASSOCIATE client sends.
///
/// Input: one whole datagram, as received (`RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA`).
///
/// Invariants, beyond not crashing:
/// - the result does not depend on where the slice starts (the relay parses `buffer[0..<count]`, others may
///   not): the same header, and a payload start moved by the same amount;
/// - a parsed header re-encodes to exactly the bytes it was read from, its name (if any) is a host name by
///   the rule (`isHostName`), and parsing that encoding gives the header back;
/// - any shorter datagram that stops inside the header is `.truncated`;
/// - each error names what is wrong with the bytes (nonzero RSV, the unknown ATYP, a name that is empty or
///   no host name, given as its bytes).
func fuzzOneInput(_ input: [UInt8]) {
    let result = parse(input[...])
    // The same bytes behind a few bytes of junk, so the slice starts at 1, 2 or 3.
    let offset = 1 + input.count % 3
    let shifted = [UInt8](repeating: 0xA5, count: offset) + input
    switch (result, parse(shifted[offset...])) {
    case (.success(let parsed), .success(let moved)):
        expect(moved.header == parsed.header && moved.payloadStart == parsed.payloadStart + offset, "slice offset changed the result")
        checkHeader(parsed.header, payloadStart: parsed.payloadStart, in: input)
    case (.failure(let error), .failure(let movedError)):
        expect(error == movedError, "slice offset changed the error: \(error) vs \(movedError)")
        checkError(error, for: input)
    default:
        expect(false, "slice offset changed success into failure or back")
    }
}

private func parse(_ datagram: ArraySlice<UInt8>) -> Result<(header: SOCKSUDPHeader, payloadStart: Int), SOCKSProtocolError> {
    Result { () throws(SOCKSProtocolError) in try SOCKSUDPHeader.parse(datagram: datagram) }
}

/// The header is the datagram's first `payloadStart` bytes, re-encodes to them, and needs all of them.
private func checkHeader(_ header: SOCKSUDPHeader, payloadStart: Int, in input: [UInt8]) {
    expect((4...input.count).contains(payloadStart), "payload start \(payloadStart) of \(input.count)")
    let raw = input[..<payloadStart]
    let encoded = header.encoded()
    expect(raw.elementsEqual(encoded), "header \(header) does not re-encode to \(Array(raw))")
    if case .domain(let name) = header.endpoint.address {
        expect(isHostName(Array(name.utf8)), "a name that is no host name was taken: \(Array(name.utf8))")
    }
    let again = try? parse(encoded[...]).get()
    expect(again?.header == header && again?.payloadStart == encoded.count, "encoding does not parse back")
    // Cut inside the header: the last byte missing, and half of it missing.
    for cut in [payloadStart - 1, payloadStart / 2] {
        expect(parse(input[..<cut]).isTruncated, "header cut at \(cut) of \(payloadStart) is not .truncated")
    }
}

/// An error is about the bytes that are there.
private func checkError(_ error: SOCKSProtocolError, for input: [UInt8]) {
    switch error {
    case .truncated:
        break
    case .nonZeroReserved:
        expect(input.count >= 3 && (input[0] != 0 || input[1] != 0), "nonZeroReserved with RSV 00 00")
    case .unsupportedAddressType(let type):
        expect(input.count >= 4 && input[0] == 0 && input[1] == 0 && input[3] == type, "wrong ATYP reported")
        expect(![0x01, 0x03, 0x04].contains(type), "known ATYP \(type) refused")
    case .invalidDomainName(let name):
        expect(input.count >= 5 && input[3] == 0x03, "invalidDomainName without a domain")
        let nameEnd = 5 + Int(input[4])
        expect(input.count >= nameEnd && input[5..<nameEnd].elementsEqual(name), "the error does not carry the name's bytes")
        expect(name.isEmpty || !isHostName(name), "host name \(name) refused")
    case .unsupportedVersion, .emptyCredential:
        expect(false, "\(error) from a UDP header")
    }
}

extension Result where Failure == SOCKSProtocolError {
    fileprivate var isTruncated: Bool {
        if case .failure(.truncated) = self { return true }
        return false
    }
}
