import CEpoll

/// A buffer of the calling thread's own, for synchronous work that needs bytes only until it returns (a
/// relay direction copying a short exchange from one socket to the other): no allocation per use.
package enum ThreadScratch {
    /// The buffer's size in bytes.
    package static let size = Int(CEPOLL_SCRATCH_SIZE)

    /// Runs `body` with the calling thread's scratch buffer, not zeroed.
    ///
    /// Safe because the buffer belongs to this thread alone (C thread-local storage) and `body` is
    /// synchronous: no other task can run on this thread until it returns. `body` must not keep the
    /// pointer, nor use `withBuffer` again (that would hand it the same bytes).
    package static func withBuffer<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeMutableRawBufferPointer(start: cepoll_thread_scratch(), count: size))
    }
}
