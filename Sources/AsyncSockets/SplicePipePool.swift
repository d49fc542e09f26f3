import Synchronization

/// Empty splice pipes kept for reuse, so that a short-lived relay costs no `pipe2` and no `close`.
public final class SplicePipePool: Sendable {
    /// The pool the server's relays share.
    public static let shared = SplicePipePool(capacity: 256)

    private let idle = Mutex<[SplicePipe]>([])
    private let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// An empty pipe: a pooled one, or a new one.
    ///
    /// - Throws: `SocketError` when a new pipe cannot be made (for example `EMFILE`).
    public func take() throws(SocketError) -> SplicePipe {
        if let pipe = idle.withLock({ $0.popLast() }) { return pipe }
        return try SplicePipe()
    }

    /// Returns a pipe after use. Only an empty pipe is kept (one that a transfer left holding bytes is
    /// dropped); past the capacity, pipes are closed.
    public func recycle(_ pipe: SplicePipe) {
        guard pipe.isEmpty else { return }
        idle.withLock { idle in
            if idle.count < capacity { idle.append(pipe) }
        }
    }
}
