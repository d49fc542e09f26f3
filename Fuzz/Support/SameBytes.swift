import Glibc

/// Whether two byte sequences are equal, compared with `memcmp`: a harness compares whole 64 KiB payloads
/// several times per input, and a loop of AddressSanitizer-checked byte loads would take most of the run.
///
/// Safe: each buffer pointer is used only inside its own `withUnsafeBufferPointer` closure, where it is valid
/// for `count` bytes, and `memcmp` reads exactly `count` bytes of each after the counts are found equal.
func sameBytes(_ one: ArraySlice<UInt8>, _ other: ArraySlice<UInt8>) -> Bool {
    guard one.count == other.count else { return false }
    guard !one.isEmpty else { return true }
    return one.withUnsafeBufferPointer { first in
        other.withUnsafeBufferPointer { second in memcmp(first.baseAddress!, second.baseAddress!, first.count) == 0 }
    }
}
