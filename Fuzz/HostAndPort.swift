import AsyncSockets

/// Fuzzes `HostAndPort(parsing:)`, the reader of `--listen HOST:PORT` and of the upstream URL's address.
///
/// Input: the text (the bytes decoded as UTF-8, invalid sequences replaced, as any `String` may hold).
///
/// Invariants, beyond not crashing:
/// - a `Substring` that starts inside a larger string reads the same as the `String`;
/// - a parsed value has a host without brackets, and its `description` parses back to the same value.
func fuzzOneInput(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    let parsed = parse(text)
    // A newline first: no character combines with it, so dropping it leaves exactly `text`.
    let inner = ("\n" + text).dropFirst()
    expect(parse(inner) == parsed, "a Substring reads differently: \(parse(inner)) vs \(parsed)")
    guard case .success(let value) = parsed else { return }
    expect(!value.host.isEmpty, "empty host accepted from \(text.debugDescription)")
    expect(!value.host.contains("[") && !value.host.contains("]"), "a bracket in the host accepted from \(text.debugDescription)")
    let again = parse(value.description)
    expect(again == .success(value), "\(value.description.debugDescription) reads as \(again), not \(value)")
}

private func parse(_ text: some StringProtocol) -> Result<HostAndPort, HostAndPort.ParseError> {
    Result { () throws(HostAndPort.ParseError) in try HostAndPort(parsing: text) }
}
