import Glibc

/// A POSIX error number, as returned by a failed system call.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The error number the calling thread's last failed system call left behind.
    static var current: Errno { Errno(rawValue: errno) }

    public var description: String {
        guard let message = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: message)
    }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let networkUnreachable = Errno(rawValue: ENETUNREACH)
    public static let hostUnreachable = Errno(rawValue: EHOSTUNREACH)
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let tooManyOpenFilesInSystem = Errno(rawValue: ENFILE)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    public static let notConnected = Errno(rawValue: ENOTCONN)
}

/// Runs a system call that reports failure as -1 with `errno`, retrying it while it fails with `EINTR`.
///
/// This is the one place that retries interrupted calls; `close` must never go through it, because
/// on Linux the descriptor is released even when `close` reports `EINTR`.
@inline(__always)
func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Swift.Result<Result, Errno> {
    while true {
        let result = call()
        if result != -1 { return .success(result) }
        let error = Errno.current
        if error == .interrupted { continue }
        return .failure(error)
    }
}
