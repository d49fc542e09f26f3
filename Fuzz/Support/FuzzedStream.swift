/// A fuzz input for a streaming decoder, read as target options, the sizes the stream is cut into, and the
/// stream itself, so the fuzzer chooses both the bytes and where the reads split them:
///
/// ```
/// byte 0      options for the target (each target documents its bits)
/// byte 1      n = low 4 bits: how many chunk-size bytes follow (the high bits are ignored)
/// n bytes     chunk sizes, each value + 1 (1...256), used in turn and then again from the first
/// the rest    the stream
/// ```
///
/// A seed of real protocol bytes is `00 00` followed by those bytes (default options, one chunk).
struct FuzzedStream {
    var options: UInt8
    /// Empty: the stream arrives in one chunk.
    var chunkSizes: [Int]
    var stream: [UInt8]

    init(_ input: [UInt8]) {
        var rest = input[...]
        options = rest.popFirst() ?? 0
        let count = Int((rest.popFirst() ?? 0) & 0x0F)
        chunkSizes = rest.prefix(count).map { Int($0) + 1 }
        rest = rest.dropFirst(count)
        stream = Array(rest)
    }

    /// `bytes` cut at this input's chunk sizes, as a socket could deliver them.
    func chunks(of bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        guard !chunkSizes.isEmpty else { return [bytes[...]] }
        var chunks: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var next = 0
        while start < bytes.endIndex {
            let end = min(start + chunkSizes[next], bytes.endIndex)
            chunks.append(bytes[start..<end])
            start = end
            next = (next + 1) % chunkSizes.count
        }
        return chunks
    }
}
