/// Reads a PROXY protocol header (v1 or v2, told apart by the first bytes) from the start of a connection,
/// with no I/O: feed it what the socket returns, and it says when the header is complete or malformed.
///
/// However the bytes are split, the same step comes out: a header, or the same error at the same place.
/// Malformed bytes are refused as soon as they show it (a first byte that is neither `P` nor `0x0D`, a v1
/// field that no valid value starts with, a v2 command of 2), not after waiting for a whole header. Bytes
/// after the header (the client's first bytes, such as a SOCKS greeting, often in the same segment) are
/// never consumed: `takeRemainingBytes()` hands them over.
///
/// The most bytes needed before a header is complete or refused: 107 for v1 (a line without CRLF by then is
/// invalid); for v2, 16 plus the length it announces, at most `maximumHeaderLength` (65,551). Only a sender
/// that stalls keeps `next()` at `.needMoreBytes`: the caller's deadline for the header covers that.
///
/// ```swift
/// var decoder = ProxyHeaderDecoder()
/// decoder.receive(bytes)
/// switch decoder.next() {
/// case .needMoreBytes: read again
/// case .header(let header): let greeting = decoder.takeRemainingBytes() ...
/// case .invalid(let error): close
/// }
/// ```
package struct ProxyHeaderDecoder: Sendable {
    /// What the bytes received so far amount to.
    package enum Step: Sendable, Hashable {
        /// Not enough bytes to decide: read more, pass them to `receive`, and call `next()` again.
        case needMoreBytes
        /// A complete, valid header. `takeRemainingBytes()` returns what followed it.
        case header(ProxyHeader)
        /// The bytes are not a valid header: close the connection.
        case invalid(ProxyProtocolError)
    }

    /// The longest v1 line, CRLF included.
    static let maximumV1HeaderLength = ProxyHeaderV1Parser.maximumLength
    /// The longest v2 header: 16 bytes and the largest length, 65,535.
    package static let maximumHeaderLength = ProxyHeaderV2Parser.headLength + Int(UInt16.max)

    private enum State: Sendable {
        case decoding
        case decoded(ProxyHeader)
        case failed(ProxyProtocolError)
    }

    private var state = State.decoding
    /// Before the header is complete: every byte received. After: the bytes that followed it, until taken.
    private var buffer: [UInt8] = []

    package init() {}

    /// Adds bytes read from the connection. After a failure they are dropped: nothing more will be read.
    package mutating func receive(_ bytes: some Collection<UInt8>) {
        if case .failed = state { return }
        // Arrays and slices copy as one block; the generic append, unspecialised across modules, goes by element.
        if bytes.withContiguousStorageIfAvailable({ buffer.append(contentsOf: $0) }) == nil {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Decodes as far as the bytes received allow. Once a header or an error comes out, every later call
    /// returns it again.
    package mutating func next() -> Step {
        switch state {
        case .decoded(let header):
            return .header(header)
        case .failed(let error):
            return .invalid(error)
        case .decoding:
            switch ProxyHeaderParse.parse(buffer[...]) {
            case .needMoreBytes:
                return .needMoreBytes
            case .header(let header, let length):
                buffer.removeFirst(length)
                state = .decoded(header)
                return .header(header)
            case .invalid(let error):
                buffer = []
                state = .failed(error)
                return .invalid(error)
            }
        }
    }

    /// After `.header`: the bytes received beyond the header (the client's first bytes, such as a SOCKS
    /// greeting), handed over once; later calls return only what was received since. Empty before a header
    /// and after an error.
    package mutating func takeRemainingBytes() -> [UInt8] {
        guard case .decoded = state else { return [] }
        defer { buffer = [] }
        return buffer
    }
}
