import SOCKSProtocol

/// Fuzzes the HTTP proxy's message layer: reading a proxy request and rewriting it for the origin, reading a
/// response and rewriting it for the client, finding the end of a chunked body, and the Basic login.
///
/// Input: a `FuzzedStream`. Options bits 0–1 pick what the stream is: 0 a client's request (then its body),
/// 1 an origin's response (then its body), 2 a chunked body, 3 a `Proxy-Authorization` value. The chunk
/// sizes split the stream as reads would.
///
/// Invariants, beyond not crashing:
/// - the answer does not depend on the split: a request or response head read from the bytes received after
///   each chunk never changes once complete or failed, and equals the answer for the whole; the chunked
///   scanner fed the chunks ends at the same byte, or fails with the same error, as fed the whole and as fed
///   one byte at a time;
/// - a forwarded request head is a valid head: origin-form target (or `/`), the same method and version,
///   exactly one `Host` (the URI's authority), no hop-by-hop field, `Connection` last and as asked, every
///   other field as received in order, and the same body framing as the client's request (a rewrite that
///   changed it would let a client smuggle a request past the proxy);
/// - a forwarded response head parses to the same status and reason, without hop-by-hop fields, with the
///   same framing;
/// - Basic credentials, encoded again by an encoder written here, decode to the same credentials.
func fuzzOneInput(_ input: [UInt8]) {
    let fuzzed = FuzzedStream(input)
    switch fuzzed.options & 3 {
    case 0: checkRequest(fuzzed)
    case 1: checkResponse(fuzzed)
    case 2: checkChunked(fuzzed.stream, chunks: fuzzed.chunks(of: fuzzed.stream))
    default: checkAuthorization(fuzzed.stream)
    }
}

private let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "trailer", "upgrade"]

private func lower(_ text: String) -> String {
    String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
}

// MARK: - Requests

private func checkRequest(_ fuzzed: FuzzedStream) {
    let stream = fuzzed.stream
    let whole = HTTPProxyRequest.parse(stream[...])
    // Growing prefixes, as a session reads them.
    var received = 0
    var settled: HTTPProxyRequest.ParseResult?
    for chunk in fuzzed.chunks(of: stream) {
        received += chunk.count
        let now = HTTPProxyRequest.parse(stream[..<received])
        if let settled {
            expect(now == settled, "after \(received) bytes reads \(now), before \(settled)")
        } else if now != .incomplete {
            expect(now == whole, "after \(received) bytes reads \(now) but the whole reads \(whole)")
            settled = now
        }
    }
    guard case .complete(let request, let length) = whole else { return }
    expect(request.destination.port > 0, "port 0")
    for keepAlive in [false, true] {
        guard let forwarded = request.forwardedHead(keepAlive: keepAlive) else {
            expect(request.kind == .tunnel, "no forwarded head for \(request.kind)")
            continue
        }
        checkForwardedRequest(forwarded, of: request, keepAlive: keepAlive)
    }
    if request.bodyFraming == .chunked {
        let body = Array(stream[length...])
        checkChunked(body, chunks: fuzzed.chunks(of: body))
    }
}

private func checkForwardedRequest(_ forwarded: [UInt8], of request: HTTPProxyRequest, keepAlive: Bool) {
    guard case .forward(let originTarget, let authority) = request.kind else { return expect(false, "forwarded a tunnel") }
    guard case .complete(let head, let length) = HTTPRequestHead.parse(forwarded[...], limits: HTTPHeadLimits(maximumLength: 1 << 20, maximumFields: 1000))
    else { return expect(false, "forwarded head \(String(decoding: forwarded, as: UTF8.self).debugDescription) does not parse") }
    expect(length == forwarded.count, "forwarded head has \(forwarded.count - length) bytes after it")
    expect(head.method == request.head.method && head.minorVersion == request.head.minorVersion, "request line changed")
    expect(head.target == originTarget && originTarget.hasPrefix("/"), "target \(head.target.debugDescription)")
    let hosts = head.fields.filter { lower($0.name) == "host" }
    expect(hosts.count == 1 && hosts[0].value == authority, "Host fields \(hosts)")
    expect(head.fields.last == HTTPField(name: "Connection", value: keepAlive ? "keep-alive" : "close"), "last field \(String(describing: head.fields.last))")
    let middle = head.fields.dropLast()
    expect(!middle.contains { hopByHop.contains(lower($0.name)) }, "a hop-by-hop field is forwarded")
    // The other fields are the client's, in order: a subsequence of them.
    var original = request.head.fields.filter { lower($0.name) != "host" }.makeIterator()
    for field in middle where lower(field.name) != "host" {
        var found = false
        while !found, let next = original.next() { found = next == field }
        expect(found, "field \(field) is not the client's, in order")
    }
    expect(HTTPBodyFraming.request(head) == .success(request.bodyFraming), "framing \(HTTPBodyFraming.request(head)) was \(request.bodyFraming)")
    // Framing fields are never removed, even when Connection names them.
    for name in ["content-length", "transfer-encoding"] {
        let before = request.head.fields.filter { lower($0.name) == name }
        let after = head.fields.filter { lower($0.name) == name }
        expect(before == after, "\(name) fields changed")
    }
}

// MARK: - Responses

private func checkResponse(_ fuzzed: FuzzedStream) {
    let stream = fuzzed.stream
    let whole = HTTPResponseHead.parse(stream[...])
    var received = 0
    var settled: HTTPResponseHead.ParseResult?
    for chunk in fuzzed.chunks(of: stream) {
        received += chunk.count
        let now = HTTPResponseHead.parse(stream[..<received])
        if let settled {
            expect(now == settled, "after \(received) bytes reads \(now), before \(settled)")
        } else if now != .incomplete {
            expect(now == whole, "after \(received) bytes reads \(now) but the whole reads \(whole)")
            settled = now
        }
    }
    guard case .complete(let head, let length) = whole else { return }
    let method = fuzzed.options & 4 == 0 ? "GET" : "HEAD"
    let framing = HTTPBodyFraming.response(head, requestMethod: method)
    for keepAlive in [false, true] {
        let forwarded = head.forwardedHead(keepAlive: keepAlive)
        guard case .complete(let again, let againLength) = HTTPResponseHead.parse(forwarded[...], limits: HTTPHeadLimits(maximumLength: 1 << 20, maximumFields: 1000))
        else { return expect(false, "forwarded head \(String(decoding: forwarded, as: UTF8.self).debugDescription) does not parse") }
        expect(againLength == forwarded.count, "bytes after the forwarded head")
        expect(again.status == head.status && again.minorVersion == head.minorVersion, "status line changed")
        expect(again.reason == head.reason, "reason changed")
        expect(again.fields.last == HTTPField(name: "Connection", value: keepAlive ? "keep-alive" : "close"), "last field")
        expect(!again.fields.dropLast().contains { hopByHop.contains(lower($0.name)) }, "a hop-by-hop field is forwarded")
        expect(HTTPBodyFraming.response(again, requestMethod: method) == framing, "framing \(HTTPBodyFraming.response(again, requestMethod: method)) was \(framing)")
    }
    if framing == .success(.chunked) {
        let body = Array(stream[length...])
        checkChunked(body, chunks: fuzzed.chunks(of: body))
    }
}

// MARK: - Chunked bodies

private func checkChunked(_ body: [UInt8], chunks: [ArraySlice<UInt8>]) {
    let small = HTTPChunkedBodyScanner.Limits(maximumSizeLineLength: 24, maximumTrailerLineLength: 16, maximumTrailerFields: 2)
    for limits in [HTTPChunkedBodyScanner.Limits(), small] {
        let whole = scanned([body[...]], limits: limits)
        let split = scanned(chunks, limits: limits)
        expect(split == whole, "split reads \(split), whole \(whole)")
        if body.count <= 512 {
            let bytes = scanned(body.indices.map { body[$0...$0] }, limits: limits)
            expect(bytes == whole, "byte by byte reads \(bytes), whole \(whole)")
        }
        if case .ended(let used) = whole {
            expect(used >= 5 && used <= body.count, "ended after \(used) of \(body.count)")
            expect(body[..<used].suffix(2).elementsEqual([0x0D, 0x0A]), "ended before a CRLF")
            // Cut one byte short, the body is unfinished.
            expect(scanned([body[..<(used - 1)]], limits: limits) == .needsMore, "ended early")
        }
    }
}

/// The scanner's answer after the pieces: where the body ended, counted from the start of the first.
private func scanned(_ pieces: [ArraySlice<UInt8>], limits: HTTPChunkedBodyScanner.Limits) -> HTTPChunkedBodyScanner.Progress {
    var scanner = HTTPChunkedBodyScanner(limits: limits)
    var before = 0
    for piece in pieces {
        switch scanner.scan(piece) {
        case .needsMore: before += piece.count
        case .ended(let used): return .ended(bytesUsed: before + used)
        case .failed(let error): return .failed(error)
        }
    }
    return .needsMore
}

// MARK: - Basic login

private func checkAuthorization(_ value: [UInt8]) {
    let authorization = HTTPProxyAuthorization(fieldValue: value)
    guard case .basic(let credentials) = authorization else { return }
    let again = HTTPProxyAuthorization(fieldValue: Array("Basic ".utf8) + base64(credentials.username + [UInt8(ascii: ":")] + credentials.password))
    expect(again == authorization, "\(credentials) encoded again reads \(again)")
    expect(!credentials.username.contains(UInt8(ascii: ":")), "a colon in the user")
}

/// Base64 with padding (RFC 4648 §4), written from the specification.
private func base64(_ bytes: [UInt8]) -> [UInt8] {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    for start in stride(from: 0, to: bytes.count, by: 3) {
        let group = bytes[start..<min(start + 3, bytes.count)]
        var value: UInt32 = 0
        for (offset, byte) in group.enumerated() { value |= UInt32(byte) << (16 - 8 * UInt32(offset)) }
        for index in 0...group.count { out.append(alphabet[Int(value >> (18 - 6 * UInt32(index)) & 0x3F)]) }
        out += Array(repeating: UInt8(ascii: "="), count: 3 - group.count)
    }
    return out
}
