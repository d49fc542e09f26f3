import Glibc

/// Checks, byte for byte and without hashing, that what arrives (in any chunking) is what
/// `PatternStream(seed:)` produces: several times cheaper than a SHA-256 at both ends, for tests that move
/// gigabytes in a process that other tests share. Optimised with the rest of TestSupport.
package struct PatternVerifier {
    private var expected: PatternStream
    /// Expected bytes generated ahead, 256 KiB at a time (a multiple of 8: the stream stays aligned).
    private var pending: [UInt8] = []
    private var pendingStart = 0
    /// The bytes checked so far.
    package private(set) var count = 0
    /// The offset of the first byte that differed; nil while none has.
    package private(set) var firstMismatch: Int?

    package init(seed: UInt64) {
        expected = PatternStream(seed: seed)
    }

    /// Checks the next bytes of the stream.
    package mutating func check(_ bytes: ArraySlice<UInt8>) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            if pendingStart == pending.count {
                pending = expected.next(256 * 1024)
                pendingStart = 0
            }
            let run = min(bytes.endIndex - offset, pending.count - pendingStart)
            if firstMismatch == nil {
                // Both pointers live only inside the closures, over `run` bytes that both slices hold.
                let same = bytes[offset..<(offset + run)].withUnsafeBytes { arrived in
                    pending[pendingStart..<(pendingStart + run)].withUnsafeBytes { wanted in
                        memcmp(arrived.baseAddress!, wanted.baseAddress!, run) == 0
                    }
                }
                if !same { firstMismatch = count + (offset - bytes.startIndex) }
            }
            offset += run
            pendingStart += run
        }
        count += bytes.count
    }
}
