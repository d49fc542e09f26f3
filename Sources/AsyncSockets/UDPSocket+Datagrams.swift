extension UDPSocket {
    /// One datagram a socket received.
    package struct Datagram: Sendable {
        /// The datagram's bytes: a slice of the iterator's buffer (let go of it before asking for the next
        /// datagram, and the iterator reuses that buffer without copying or allocating).
        package let payload: ArraySlice<UInt8>
        /// Who sent it, with an IPv4-mapped address written as IPv4.
        package let sender: SocketAddress

        package init(payload: ArraySlice<UInt8>, sender: SocketAddress) {
            self.payload = payload
            self.sender = sender
        }
    }

    /// The datagrams that reach this socket, as an `AsyncSequence`. It never ends by itself: closing the
    /// socket (or cancelling the reading task) makes `next()` throw.
    ///
    /// The iterator reads into one buffer of `pool.bufferSize` bytes, borrowed from `pool`
    /// when a datagram may be queued and given back as soon as the queue is empty: a burst is read with one
    /// buffer and no allocation per datagram, and a socket with nothing to read holds no buffer at all (an
    /// idle association costs no 64 KiB). An empty queue is learnt from the `recvfrom` that finds it
    /// empty (`EAGAIN`), so waiting costs no extra system call (no `MSG_PEEK`).
    package func datagrams(pool: DatagramBufferPool = .shared) -> Datagrams {
        Datagrams(socket: self, pool: pool)
    }

    /// An `AsyncSequence` of the datagrams a socket receives.
    package struct Datagrams: AsyncSequence, Sendable {
        package typealias Element = Datagram
        let socket: UDPSocket
        let pool: DatagramBufferPool

        package func makeAsyncIterator() -> Iterator {
            Iterator(socket: socket, pool: pool)
        }

        /// Receives the next datagram, waiting for one.
        package struct Iterator: AsyncIteratorProtocol, Sendable {
            let socket: UDPSocket
            let pool: DatagramBufferPool
            /// The borrowed buffer while datagrams keep coming; empty (none held) while the queue is empty.
            private var buffer: [UInt8] = []
            /// The wait on the datagram socket and the control connection together (`next(untilEndOf:)`),
            /// made once and kept for every wait.
            private var eitherWait: ReadinessWait?
            /// Whether the control connection may have something to read: at first, and after a wait that
            /// it ended. A wait the datagram socket ended leaves the control's edges with it, so it is not
            /// read in vain after each datagram.
            private var controlMayHaveInput = true

            init(socket: UDPSocket, pool: DatagramBufferPool) {
                self.socket = socket
                self.pool = pool
            }

            /// The datagram at the head of the queue, read into the buffer (borrowed first if none is held),
            /// or nil when the queue is empty (the buffer is still held then). A failed read gives it back.
            private mutating func receiveNow() throws -> Datagram? {
                if buffer.isEmpty { buffer = pool.borrow() }
                let received: (count: Int, sender: SocketAddress)?
                do {
                    received = try socket.receiveNow(into: &buffer)
                } catch {
                    giveBackBuffer()
                    throw error
                }
                guard let (count, sender) = received else { return nil }
                return Datagram(payload: buffer[0..<count], sender: sender)
            }

            package mutating func next() async throws -> Datagram? {
                while true {
                    if let datagram = try receiveNow() { return datagram }
                    // The queue is empty: the buffer goes back before the wait, which readiness (edge
                    // triggered, and armed by the `EAGAIN` just seen) ends when the next datagram comes.
                    giveBackBuffer()
                    try await socket.descriptor.registration.wait(for: .read)
                }
            }

            /// The next datagram, or `nil` once `control` has ended (EOF, a reset, or closed here; bytes on
            /// it are read and discarded): one task reads its client's datagrams and watches the connection
            /// whose end ends them (RFC 1928: a UDP association lives as long as its control connection).
            /// It waits for either socket at once, so an association needs no task of its own for the
            /// watch: a task costs about 3.4 KiB of an idle association's 15.4 (its object and the allocator
            /// slabs of its stack; release build, `Benchmarks/tasktrace.py`).
            ///
            /// The control connection is read only when a wait says it may have something (and once at
            /// first): a datagram costs no `recv` on it. Each wait allocates nothing (`ReadinessWait`).
            package mutating func next(untilEndOf control: TCPConnection) async throws -> Datagram? {
                let wait: ReadinessWait
                if let eitherWait { wait = eitherWait } else { wait = ReadinessWait(); eitherWait = wait }
                while true {
                    if let datagram = try receiveNow() { return datagram }
                    // The queue is empty; the buffer in hand reads (and discards) what the control
                    // connection carries, when it may carry something, then goes back before the wait.
                    let controlEnded = controlMayHaveInput && discardInput(of: control)
                    controlMayHaveInput = false
                    giveBackBuffer()
                    if controlEnded { return nil }
                    switch try await IORegistration.waitForEither(socket.descriptor.registration, .read, control.descriptor.registration, using: wait) {
                    case .first: break
                    case .second, .both: controlMayHaveInput = true
                    }
                }
            }

            /// Reads what `control` holds into the buffer in hand and drops it: whether the connection has ended
            /// (EOF, a reset, or closed here).
            private mutating func discardInput(of control: TCPConnection) -> Bool {
                do {
                    while true {
                        switch try control.readNow(into: &buffer) {
                        case nil: return false
                        case 0?: return true
                        case _?: continue
                        }
                    }
                } catch {
                    return true
                }
            }

            private mutating func giveBackBuffer() {
                pool.giveBack(buffer)
                buffer = []
            }
        }
    }
}
