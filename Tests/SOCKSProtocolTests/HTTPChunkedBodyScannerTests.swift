import Testing
@testable import SOCKSProtocol

/// Finding the end of chunked bodies passed through unchanged.
@Suite struct HTTPChunkedBodyScannerTests {
    /// The answer for `bytes` fed in pieces of `size` (the whole at once for 0): the bytes used when the
    /// body ended, counted from the start, or the error, or nil when it needs more.
    static func scan(_ bytes: [UInt8], pieces size: Int = 0, limits: HTTPChunkedBodyScanner.Limits = .init()) -> Result<Int, HTTPChunkedBodyError>? {
        var scanner = HTTPChunkedBodyScanner(limits: limits)
        var start = 0
        repeat {
            let end = size == 0 ? bytes.count : min(start + size, bytes.count)
            switch scanner.scan(bytes[start..<end]) {
            case .needsMore: break
            case .ended(let used):
                #expect(scanner.isFinished)
                #expect(scanner.scan(bytes[end...]) == .ended(bytesUsed: 0))
                return .success(start + used)
            case .failed(let error):
                #expect(scanner.scan([1, 2, 3]) == .failed(error))
                return .failure(error)
            }
            start = end
        } while start < bytes.count
        return nil
    }

    /// The same answer however the bytes are split.
    static func scanEveryWay(_ text: String) -> Result<Int, HTTPChunkedBodyError>? {
        let bytes = Array(text.utf8)
        let whole = scan(bytes)
        for size in [1, 2, 3, 7] {
            #expect(scan(bytes, pieces: size) == whole, "pieces of \(size) of \(text.debugDescription)")
        }
        return whole
    }

    @Test func bodiesAsServersSendThem() {
        // nginx: a chunk, the last chunk; then the next response on the connection.
        let nginx = "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"
        #expect(Self.scanEveryWay(nginx + "HTTP/1.1 200 OK\r\n") == .success(nginx.utf8.count))
        // Extensions, upper-case hex, leading zeros, trailers (git and gRPC-web send trailers).
        let rich = "A;name=value;q=\"quoted; \\\" string\"\r\n0123456789\r\n000f \t; x\r\n0123456789abcde\r\n0;end\r\nExpires: never\r\nX-Checksum:\t abc \r\n\r\n"
        #expect(Self.scanEveryWay(rich + "next") == .success(rich.utf8.count))
        #expect(Self.scanEveryWay("0\r\n\r\n") == .success(5))
        #expect(Self.scanEveryWay("5 \r\nhello\r\n0\r\n\r\n") == .success(16))
    }

    @Test func unfinishedBodiesNeedMore() {
        let body = "5\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"
        for count in 0..<body.utf8.count {
            #expect(Self.scan(Array(body.utf8.prefix(count))) == nil, "\(count) bytes")
        }
    }

    @Test func hugeChunksAreSkippedNotStored() {
        // 2^62 bytes announced: only counters change as 1 MiB pieces pass.
        var scanner = HTTPChunkedBodyScanner()
        #expect(scanner.scan(Array("4000000000000000\r\n".utf8)[...]) == .needsMore)
        let piece = [UInt8](repeating: 0x0D, count: 1 << 20)
        for _ in 0..<64 { #expect(scanner.scan(piece[...]) == .needsMore) }
        #expect(scanner.scan(Array("7fffffffffffffff\r\n".utf8)[...]) == .needsMore)
    }

    @Test(arguments: [
        ("\r\n", HTTPChunkedBodyError.invalidChunkSize),
        ("x\r\n", .invalidChunkSize),
        ("-1\r\n", .invalidChunkSize),
        ("0x5\r\n", .invalidChunkSize),
        (" 5\r\n", .invalidChunkSize),
        ("5 x\r\n", .invalidChunkSize),
        ("5;a\u{1}\r\n", .invalidChunkSize),
        ("5\n", .invalidLineEnding),
        ("5;ext\n", .invalidLineEnding),
        ("5\rx", .invalidLineEnding),
        ("5\r\nhelloX\r\n", .invalidLineEnding),
        ("5\r\nhello\rX", .invalidLineEnding),
        ("5\r\nhello\n0\r\n\r\n", .invalidLineEnding),
        ("0\r\n\n", .invalidLineEnding),
        ("0\r\n\rX", .invalidLineEnding),
        ("8000000000000000\r\n", .chunkSizeOverflow),
        ("fffffffffffffffff\r\n", .chunkSizeOverflow),
        ("0\r\n folded: x\r\n\r\n", .invalidTrailer),
        ("0\r\nNo colon\r\n\r\n", .invalidTrailer),
        ("0\r\nX: a\u{7F}\r\n\r\n", .invalidTrailer),
        ("0\r\nX: a\nY: b\r\n\r\n", .invalidLineEnding),
        ("0\r\n:x\r\n\r\n", .invalidTrailer),
    ])
    func invalidBodiesFail(text: String, error: HTTPChunkedBodyError) {
        #expect(Self.scanEveryWay(text) == .failure(error), "\(text.debugDescription)")
    }

    @Test func linesAreBounded() {
        let limits = HTTPChunkedBodyScanner.Limits(maximumSizeLineLength: 10, maximumTrailerLineLength: 12, maximumTrailerFields: 2)
        #expect(Self.scan(Array("1;abcdefgh\r\nx\r\n0\r\n\r\n".utf8), limits: limits) == .success(20))
        #expect(Self.scan(Array("1;abcdefghi\r\n".utf8), limits: limits) == .failure(.sizeLineTooLong))
        #expect(Self.scan(Array("00000000001\r\n".utf8), limits: limits) == .failure(.sizeLineTooLong))
        #expect(Self.scan(Array("0\r\nX: 123456789\r\n\r\n".utf8), limits: limits) == .success(19))
        #expect(Self.scan(Array("0\r\nX: 1234567890\r\n".utf8), limits: limits) == .failure(.trailerLineTooLong))
        #expect(Self.scan(Array("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n".utf8), limits: limits) == .failure(.tooManyTrailerFields))
        // The defaults: 4 KiB size lines.
        #expect(Self.scan(Array("1;\(String(repeating: "e", count: 4094))\r\n".utf8)) == nil)
        #expect(Self.scan(Array("1;\(String(repeating: "e", count: 4095))".utf8)) == .failure(.sizeLineTooLong))
    }
}
