import CEpoll
import Glibc
import Synchronization

/// Owns one nonblocking socket descriptor and its event-loop registration.
///
/// `close()` ends the socket for its users at once: waiters wake with `SocketError.closed` and
/// `shutdown(SHUT_RDWR)` sends the FIN. `abort()` ends it the same way for its users but sends no FIN:
/// with `SO_LINGER` 0, releasing the descriptor sends a reset instead. The descriptor number itself is
/// released in `deinit`, when no task can still be inside a system call on it, so a closed socket's number
/// can never be reused under a task that is still reading it.
final class SocketDescriptor: Sendable {
    /// The lifecycle: open until closed (FIN) or aborted (RST), never both.
    enum Lifecycle: UInt8, AtomicRepresentable {
        case open, closed, aborted
    }

    let fd: Int32
    let registration: IORegistration
    /// The loop that watches this socket: the current thread's, when a loop creates it. An open socket
    /// holds a use of the loop's group (its threads run for it), given back when it closes or goes.
    let loop: EventLoop
    /// Whether another descriptor may refer to the same socket (a shared listener's `dup`): then closing
    /// this one does not remove the socket from epoll, and `deinit` must.
    let isShared: Bool
    private let lifecycle = Atomic<Lifecycle>(.open)
    /// Whether a call on this socket failed with a reset or a broken pipe: the connection is gone, so
    /// `close()` skips the `shutdown`, which would only fail with `ENOTCONN` (a system call less for every
    /// session that ends with a reset).
    private let connectionGone = Atomic<Bool>(false)

    /// Takes ownership of `fd` (nonblocking, close-on-exec) and registers it with `loop`, or with the loop
    /// a new socket gets by default (the calling thread's, else a shared one).
    ///
    /// - Throws: `SocketError` when `loop`'s group has shut down, when the shared loops cannot start, or
    ///   when epoll refuses the descriptor; `fd` is closed then.
    init(adopting fd: Int32, loop: EventLoop? = nil, isShared: Bool = false) throws(SocketError) {
        self.fd = fd
        self.isShared = isShared
        do throws(SocketError) {
            if let loop {
                guard loop.uses.enter() else { throw .eventLoopsShutDown }
                self.loop = loop
            } else {
                self.loop = try EventLoop.enterForNewWork()
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        do {
            // A shared descriptor is a listener that every loop watches: one wake-up per connection.
            self.registration = try self.loop.register(fd, exclusive: isShared)
        } catch {
            self.loop.uses.leave()
            Glibc.close(fd)
            throw error
        }
    }

    /// Creates a new nonblocking, close-on-exec socket; `EMFILE` within the `DescriptorReserve` too.
    convenience init(family: Int32, type: Int32, loop: EventLoop? = nil, isShared: Bool = false) throws(SocketError) {
        let fd = DescriptorReserve.admit(cepoll_socket(family, type))
        guard fd >= 0 else { throw .failed(operation: "socket", errno: .current) }
        try self.init(adopting: fd, loop: loop, isShared: isShared)
    }

    deinit {
        loop.deregister(registration, removingFromEpoll: isShared)
        switch lifecycle.load(ordering: .acquiring) {
        case .open: loop.uses.leave()
        case .closed, .aborted: break  // given back by close() or abort()
        }
        // Not retried on EINTR: Linux releases the descriptor even then.
        Glibc.close(fd)
    }

    var isClosed: Bool {
        switch lifecycle.load(ordering: .acquiring) {
        case .open: false
        case .closed, .aborted: true
        }
    }

    func close() {
        guard end(as: .closed) else { return }
        registration.close()
        if !connectionGone.load(ordering: .relaxed) { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        loop.uses.leave()
    }

    /// Ends the socket for this process's users, as `close()` does, but leaves the socket itself as it is:
    /// no `shutdown`, which would end it for every process that holds it too (a listening socket handed to
    /// another process). It leaves epoll now rather than at `deinit`, so that a connection can no longer
    /// wake this process, which would then never accept it. The descriptor is released at `deinit`.
    func release() {
        guard end(as: .closed) else { return }
        loop.deregister(registration, removingFromEpoll: true)
        registration.close()
        // As `close()` does: `deinit` gives the use back only for a socket still open.
        loop.uses.leave()
    }

    /// Ends the socket with a reset rather than a FIN (a relay passing on its other side's reset). The reset
    /// goes out when the descriptor is released, once nothing uses it any more.
    func abort() {
        guard end(as: .aborted) else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        registration.close()
        loop.uses.leave()
    }

    /// Moves an open socket to `ending`; `false` if it had already ended.
    private func end(as ending: Lifecycle) -> Bool {
        lifecycle.compareExchange(expected: .open, desired: ending, ordering: .acquiringAndReleasing).exchanged
    }

    func checkOpen() throws(SocketError) {
        if isClosed { throw .closed }
    }

    func setOption(level: Int32, name: Int32, value: Int32) throws(SocketError) {
        var value = value
        if setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw .failed(operation: "setsockopt", errno: .current)
        }
    }

    /// The error the kernel holds for this socket (`SO_ERROR`, which reading clears): a connect's failure,
    /// a reset. Nil when there is none; when the socket cannot be asked, the error of asking.
    func takePendingError() -> Errno? {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return .current }
        return error == 0 ? nil : Errno(rawValue: error)
    }

    func bind(to address: SocketAddress) throws(SocketError) {
        let result = address.withSockAddr { Glibc.bind(fd, $0, $1) }
        if result != 0 { throw .failed(operation: "bind \(address)", errno: .current) }
    }

    var localAddress: SocketAddress? {
        SocketAddress.reading { getsockname(fd, $0, $1) }.1
    }

    var remoteAddress: SocketAddress? {
        SocketAddress.reading { getpeername(fd, $0, $1) }.1
    }

    /// Runs a nonblocking system call once (retrying `EINTR`): its result, or `nil` on `EAGAIN`. `operation`
    /// names the call in the error thrown; it is built only then (a relay names the destination in it).
    func attempt<Result: BinaryInteger>(operation: @autoclosure () -> String, _ call: () -> Result) throws(SocketError) -> Result? {
        try checkOpen()
        switch retryingInterrupts(call) {
        case .success(let result):
            return result
        case .failure(let error) where error == .wouldBlock:
            return nil
        case .failure(let error):
            if isClosed { throw .closed }
            if error == .connectionReset || error == .brokenPipe { connectionGone.store(true, ordering: .relaxed) }
            throw .from(error, operation: operation())
        }
    }

    /// Runs a nonblocking system call until it succeeds, fails, or (on `EAGAIN`) waits for readiness.
    nonisolated(nonsending) func perform<Result: BinaryInteger>(
        _ direction: IORegistration.Direction, operation: @autoclosure () -> String, _ call: () -> Result
    ) async throws -> Result {
        while true {
            if let result = try attempt(operation: operation(), call) { return result }
            try await registration.wait(for: direction)
        }
    }
}
