import AsyncSockets

/// Fuzzes `HostAndPort(parsing:)`, the reader of `--listen HOST:PORT` and of the upstream URL's address.
///
/// Input: the text (the bytes decoded as UTF-8, invalid sequences replaced, as any `String` may hold).
///
/// Invariants, beyond not crashing:
/// - a `Substring` that starts inside a larger string reads the same as the `String`;
/// - a parsed value has a host, and its `description` parses back to the same value (see
///   `descriptionRoundTrips` for the one shape of host where it cannot).
func fuzzOneInput(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    let parsed = parse(text)
    // A newline first: no character combines with it, so dropping it leaves exactly `text`.
    let inner = ("\n" + text).dropFirst()
    expect(parse(inner) == parsed, "a Substring reads differently: \(parse(inner)) vs \(parsed)")
    guard case .success(let value) = parsed else { return }
    expect(!value.host.isEmpty, "empty host accepted from \(text.debugDescription)")
    if descriptionRoundTrips(value) {
        let again = parse(value.description)
        expect(again == .success(value), "\(value.description.debugDescription) reads as \(again), not \(value)")
    }
}

private func parse(_ text: some StringProtocol) -> Result<HostAndPort, HostAndPort.ParseError> {
    Result { () throws(HostAndPort.ParseError) in try HostAndPort(parsing: text) }
}

/// Whether `description` can read back. A bracketed host with no colon, such as `[[]:1` (host `[`), is
/// written without brackets (`[:1`), which reads as an unclosed bracket: no address looks like that, so the
/// case is left out here.
private func descriptionRoundTrips(_ value: HostAndPort) -> Bool {
    !(value.host.hasPrefix("[") && !value.host.contains(":"))
}
