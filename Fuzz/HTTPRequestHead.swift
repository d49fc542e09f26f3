import SOCKSProtocol

/// Fuzzes `HTTPRequestHead.parse`, the reader of the metrics endpoint's and the HTTP proxy's requests.
///
/// Input: the bytes a client sends on a connection, read with the default limits (8 KiB, 100 fields), the
/// proxy's (16 KiB, 100) and tiny ones (64 bytes, 3 fields), so the limits are reached too.
///
/// Invariants, beyond not crashing:
/// - the endpoint reads growing prefixes of a connection, so a prefix's answer must hold for the whole: a
///   prefix that fails makes the whole fail; a prefix that is complete makes the whole complete with the
///   same head and length; and the whole's head minus its last byte is incomplete;
/// - a complete head is well-formed: a token method, a target without spaces or controls whose path is set
///   (unless the method is CONNECT), token field names, values without controls (but tab) or surrounding
///   whitespace, at most the limits;
///   written back with CRLFs it parses to the same head;
/// - an incomplete input is shorter than the length limit.
func fuzzOneInput(_ input: [UInt8]) {
    for limits in [HTTPRequestHead.Limits(), HTTPRequestHead.Limits(maximumLength: 64, maximumFields: 3), .proxyRequest] {
        check(input, limits: limits)
    }
}

private func check(_ input: [UInt8], limits: HTTPRequestHead.Limits) {
    let result = HTTPRequestHead.parse(input[...], limits: limits)
    // Every prefix for short inputs, a spread of them for long ones.
    let cuts = input.count <= 64 ? Array(0..<input.count) : (0..<32).map { $0 * input.count / 32 } + [input.count - 1]
    for cut in cuts {
        switch HTTPRequestHead.parse(input[..<cut], limits: limits) {
        case .incomplete:
            break
        case .failed(let error):
            guard case .failed = result else {
                expect(false, "prefix of \(cut) bytes fails (\(error)) but the whole reads \(result)")
                return
            }
        case .complete(let head, let length):
            expect(result == .complete(head, length: length), "prefix of \(cut) bytes reads \(head) (\(length)) but the whole reads \(result)")
        }
    }
    switch result {
    case .incomplete:
        expect(input.count < limits.maximumLength, "incomplete with \(input.count) bytes, limit \(limits.maximumLength)")
    case .failed:
        break
    case .complete(let head, let length):
        expect(length <= min(input.count, limits.maximumLength), "length \(length) of \(input.count) bytes")
        expect(HTTPRequestHead.parse(input[..<(length - 1)], limits: limits) == .incomplete, "the head without its last byte is not incomplete")
        checkWellFormed(head, limits: limits)
        let written = write(head)
        if written.count <= limits.maximumLength {
            let again = HTTPRequestHead.parse(written[...], limits: limits)
            expect(again == .complete(head, length: written.count), "\(head) written back reads \(again)")
        }
    }
}

private func checkWellFormed(_ head: HTTPRequestHead, limits: HTTPRequestHead.Limits) {
    expect(!head.method.isEmpty && head.method.utf8.allSatisfy(isToken), "method \(head.method.debugDescription)")
    expect(!head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target \(head.target.debugDescription)")
    expect((0...9).contains(head.minorVersion), "version 1.\(head.minorVersion)")
    expect(head.fields.count <= limits.maximumFields, "\(head.fields.count) fields")
    if let path = head.path {
        expect(path == "*" || path.hasPrefix("/"), "path \(path.debugDescription)")
    } else {
        expect(head.method == "CONNECT", "no path in \(head.target.debugDescription)")
    }
    for field in head.fields {
        expect(!field.name.isEmpty && field.name.utf8.allSatisfy(isToken), "field name \(field.name.debugDescription)")
        let value = field.valueBytes
        expect(!value.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }, "control byte in \(field.value.debugDescription)")
        expect(![0x20, 0x09].contains(value.first ?? 0) && ![0x20, 0x09].contains(value.last ?? 0), "untrimmed \(field.value.debugDescription)")
    }
}

/// The head in canonical form: CRLF line ends, one space after each colon, values as received.
private func write(_ head: HTTPRequestHead) -> [UInt8] {
    var bytes = Array("\(head.method) \(head.target) HTTP/1.\(head.minorVersion)\r\n".utf8)
    for field in head.fields { bytes += Array("\(field.name): ".utf8) + field.valueBytes + Array("\r\n".utf8) }
    return bytes + Array("\r\n".utf8)
}

private func isToken(_ byte: UInt8) -> Bool {
    (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
}
