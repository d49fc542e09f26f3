/// Finds the end of a chunked body (RFC 9112 §7.1) in bytes that pass through the proxy unchanged: the
/// last chunk, the trailer section and its final CRLF.
///
/// Feed it the bytes after the head in pieces as they arrive; it keeps a few counters, never the bytes,
/// so a body of any size costs nothing to track (chunk data is skipped in one step per piece). The answer
/// does not depend on how the bytes are split. Chunk-size lines and trailer lines are bounded, chunk sizes
/// must fit in 63 bits, and every line must end in CRLF.
///
/// ```swift
/// var scanner = HTTPChunkedBodyScanner()
/// switch scanner.scan(received[...]) {
/// case .needsMore: // forward all of `received`, read more
/// case .ended(let used): // forward `received.prefix(used)`; what follows is the next message
/// case .failed(let error): // forward nothing more, close
/// }
/// ```
package struct HTTPChunkedBodyScanner: Hashable, Sendable {
    /// How long the lines around the chunk data may be.
    package struct Limits: Hashable, Sendable {
        /// Bytes of one chunk-size line, extensions included, its CRLF not.
        package var maximumSizeLineLength: Int
        /// Bytes of one trailer line, its CRLF not.
        package var maximumTrailerLineLength: Int
        /// Trailer field lines.
        package var maximumTrailerFields: Int

        package init(maximumSizeLineLength: Int = 4096, maximumTrailerLineLength: Int = 8192, maximumTrailerFields: Int = 100) {
            self.maximumSizeLineLength = maximumSizeLineLength
            self.maximumTrailerLineLength = maximumTrailerLineLength
            self.maximumTrailerFields = maximumTrailerFields
        }
    }

    /// What the bytes fed so far are.
    package enum Progress: Hashable, Sendable {
        /// All of the piece belongs to the body, which goes on.
        case needsMore
        /// The body ended after `bytesUsed` bytes of this piece (0 when it had ended before); the rest is
        /// not the body's.
        case ended(bytesUsed: Int)
        /// Not a valid chunked body; this stays the answer.
        case failed(HTTPChunkedBodyError)
    }

    /// Where in the body the next byte falls.
    private enum State: Hashable, Sendable {
        /// In the hex digits of a chunk size (`digits` read so far).
        case size(UInt64, digits: Int)
        /// After the size, in whitespace and extensions (`sawSemicolon` once one started), up to the CR.
        case sizeExtension(UInt64, sawSemicolon: Bool)
        /// After the CR of a chunk-size line.
        case sizeLF(UInt64)
        /// In chunk data, this many bytes left.
        case data(remaining: UInt64)
        /// After chunk data: the CR, then the LF.
        case dataCR
        case dataLF
        /// At the start of a trailer line, or of the final empty line.
        case trailerLineStart
        /// In a trailer field's name, then its value.
        case trailerName
        case trailerValue
        /// After the CR of a trailer line.
        case trailerLF
        /// After the CR of the final empty line.
        case finalLF
        case finished
        case failed(HTTPChunkedBodyError)
    }

    private let limits: Limits
    private var state: State = .size(0, digits: 0)
    /// Bytes of the current chunk-size or trailer line.
    private var lineLength = 0
    private var trailerFields = 0

    package init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether the whole body has been seen.
    package var isFinished: Bool { state == .finished }

    /// Takes the next piece of the body.
    package mutating func scan(_ bytes: ArraySlice<UInt8>) -> Progress {
        switch state {
        case .finished: return .ended(bytesUsed: 0)
        case .failed(let error): return .failed(error)
        default: break
        }
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if case .data(let remaining) = state {
                // The data itself is never looked at: skip what this piece holds of it.
                let step = min(remaining, UInt64(bytes.endIndex - index))
                index += Int(step)
                state = step == remaining ? .dataCR : .data(remaining: remaining - step)
                continue
            }
            let byte = bytes[index]
            index += 1
            if let error = advance(byte) {
                state = .failed(error)
                return .failed(error)
            }
            if state == .finished { return .ended(bytesUsed: index - bytes.startIndex) }
        }
        return .needsMore
    }

    /// Takes one byte outside chunk data; the error that fails the body, or nil.
    private mutating func advance(_ byte: UInt8) -> HTTPChunkedBodyError? {
        switch state {
        case .size(let size, let digits):
            if let value = HTTPSyntax.hexValue(byte) {
                guard size <= UInt64(Int64.max) >> 4 else { return .chunkSizeOverflow }
                state = .size(size << 4 | UInt64(value), digits: digits + 1)
                return countLineByte(limit: limits.maximumSizeLineLength, error: .sizeLineTooLong)
            }
            guard digits > 0 else { return .invalidChunkSize }
            if byte == HTTPSyntax.cr {
                state = .sizeLF(size)
                return nil
            }
            guard byte == UInt8(ascii: ";") || byte == HTTPSyntax.space || byte == HTTPSyntax.tab else {
                return byte == HTTPSyntax.lf ? .invalidLineEnding : .invalidChunkSize
            }
            state = .sizeExtension(size, sawSemicolon: byte == UInt8(ascii: ";"))
            return countLineByte(limit: limits.maximumSizeLineLength, error: .sizeLineTooLong)
        case .sizeExtension(let size, let sawSemicolon):
            if byte == HTTPSyntax.cr {
                state = .sizeLF(size)
                return nil
            }
            if byte == HTTPSyntax.lf { return .invalidLineEnding }
            // Before the first `;` only whitespace (BWS); after it, anything a field value may hold.
            if HTTPSyntax.isForbiddenInField(byte) { return .invalidChunkSize }
            if !sawSemicolon {
                guard byte == UInt8(ascii: ";") || byte == HTTPSyntax.space || byte == HTTPSyntax.tab else { return .invalidChunkSize }
                state = .sizeExtension(size, sawSemicolon: byte == UInt8(ascii: ";"))
            }
            return countLineByte(limit: limits.maximumSizeLineLength, error: .sizeLineTooLong)
        case .sizeLF(let size):
            guard byte == HTTPSyntax.lf else { return .invalidLineEnding }
            lineLength = 0
            state = size == 0 ? .trailerLineStart : .data(remaining: size)
            return nil
        case .dataCR:
            guard byte == HTTPSyntax.cr else { return .invalidLineEnding }
            state = .dataLF
            return nil
        case .dataLF:
            guard byte == HTTPSyntax.lf else { return .invalidLineEnding }
            state = .size(0, digits: 0)
            return nil
        case .trailerLineStart:
            if byte == HTTPSyntax.cr {
                state = .finalLF
                return nil
            }
            guard HTTPSyntax.isTokenByte(byte) else { return byte == HTTPSyntax.lf ? .invalidLineEnding : .invalidTrailer }
            trailerFields += 1
            guard trailerFields <= limits.maximumTrailerFields else { return .tooManyTrailerFields }
            state = .trailerName
            return countLineByte(limit: limits.maximumTrailerLineLength, error: .trailerLineTooLong)
        case .trailerName:
            if byte == UInt8(ascii: ":") {
                state = .trailerValue
            } else if !HTTPSyntax.isTokenByte(byte) {
                return byte == HTTPSyntax.lf ? .invalidLineEnding : .invalidTrailer
            }
            return countLineByte(limit: limits.maximumTrailerLineLength, error: .trailerLineTooLong)
        case .trailerValue:
            if byte == HTTPSyntax.cr {
                state = .trailerLF
                return nil
            }
            if byte == HTTPSyntax.lf { return .invalidLineEnding }
            if HTTPSyntax.isForbiddenInField(byte) { return .invalidTrailer }
            return countLineByte(limit: limits.maximumTrailerLineLength, error: .trailerLineTooLong)
        case .trailerLF:
            guard byte == HTTPSyntax.lf else { return .invalidLineEnding }
            lineLength = 0
            state = .trailerLineStart
            return nil
        case .finalLF:
            guard byte == HTTPSyntax.lf else { return .invalidLineEnding }
            state = .finished
            return nil
        case .data, .finished, .failed:
            // `scan` handles these before it takes a byte.
            return nil
        }
    }

    /// Counts one more byte of the current line; the error when that passes `limit`.
    private mutating func countLineByte(limit: Int, error: HTTPChunkedBodyError) -> HTTPChunkedBodyError? {
        lineLength += 1
        return lineLength > limit ? error : nil
    }
}
