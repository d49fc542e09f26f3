// Shared by every fuzz target: libFuzzer's entry point and the failure report. Each target file defines
// `fuzzOneInput(_:)`; Scripts/fuzz compiles it together with this folder and the modules it tests.

/// libFuzzer calls this once per input; it hands the bytes to the target's `fuzzOneInput(_:)`.
///
/// Safe: libFuzzer guarantees that `data` points to `size` readable bytes (or is null when `size` is 0) until
/// this call returns. The bytes are copied into an array at once and the pointer is neither kept nor written.
@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    fuzzOneInput(input)
    return 0  // libFuzzer reserves other values.
}

/// Stops the run with `message` when an invariant does not hold: libFuzzer reports the trap as a crash and
/// keeps the input that caused it.
func expect(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError("invariant broken: \(message())", file: file, line: line) }
}
