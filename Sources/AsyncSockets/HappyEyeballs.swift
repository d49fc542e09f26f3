/// Connection racing for names with several addresses (RFC 8305, "Happy Eyeballs" v2), without the DNS part.
package enum HappyEyeballs {
    /// Connects to the first of `addresses` that answers.
    ///
    /// Addresses are interleaved by family, IPv6 first (RFC 8305 §4). The first attempt starts at once; each
    /// further one starts when the previous fails or after `attemptDelay`, whichever is sooner. The first
    /// connection wins and the other attempts are cancelled.
    ///
    /// - Parameter timeout: when given, the whole race gives up after it with `SocketError.timedOut`.
    /// - Throws: the last attempt's error when every attempt fails.
    package static func connect(
        to addresses: [SocketAddress], attemptDelay: Duration = .milliseconds(250), timeout: Duration? = nil
    ) async throws -> TCPConnection {
        let ordered = interleaved(addresses)
        guard let first = ordered.first else { throw SocketError.nameNotFound("(no addresses)") }
        // One address, the common case: no race, no task group.
        if ordered.count == 1 { return try await TCPConnection.connect(to: first, timeout: timeout) }
        if let timeout {
            return try await withDeadline(timeout) { try await race(ordered, attemptDelay: attemptDelay) }
        }
        return try await race(ordered, attemptDelay: attemptDelay)
    }

    private static func race(_ ordered: [SocketAddress], attemptDelay: Duration) async throws -> TCPConnection {

        enum Event: Sendable {
            case connected(TCPConnection)
            case failed(any Error)
            case delayElapsed(after: Int)
        }

        return try await withThrowingTaskGroup(of: Event.self) { group in
            var started = 0
            var inFlight = 0
            var lastError: any Error = SocketError.timedOut
            func startNext() {
                let index = started
                let address = ordered[index]
                started += 1
                inFlight += 1
                group.addTask {
                    do { return .connected(try await TCPConnection.connect(to: address)) } catch { return .failed(error) }
                }
                if started < ordered.count {
                    group.addTask {
                        try await EventLoop.sleepOnAnyLoop(for: attemptDelay)
                        return .delayElapsed(after: index)
                    }
                }
            }
            startNext()
            while let event = try await group.next() {
                switch event {
                case .connected(let connection):
                    group.cancelAll()
                    return connection
                case .failed(let error):
                    inFlight -= 1
                    lastError = error
                    if started < ordered.count {
                        startNext()
                    } else if inFlight == 0 {
                        group.cancelAll()
                        throw lastError
                    }
                case .delayElapsed(let index):
                    // Only the timer of the newest attempt may start the next one.
                    if index == started - 1 && started < ordered.count { startNext() }
                }
            }
            throw lastError
        }
    }

    /// Alternates IPv6 and IPv4 addresses, starting with IPv6, each family keeping its own order.
    package static func interleaved(_ addresses: [SocketAddress]) -> [SocketAddress] {
        let v6 = addresses.filter { $0.ip.isIPv6 }
        let v4 = addresses.filter { $0.ip.isIPv4 }
        var result: [SocketAddress] = []
        result.reserveCapacity(addresses.count)
        for index in 0..<max(v6.count, v4.count) {
            if index < v6.count { result.append(v6[index]) }
            if index < v4.count { result.append(v4[index]) }
        }
        return result
    }
}
