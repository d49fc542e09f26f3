import Testing
@testable import SOCKSProtocol

/// Drives a handshake with the client's bytes delivered in the given chunks; collects every action.
func drive(
    _ chunks: [[UInt8]], requiresAuthentication: Bool = false, accept: (SOCKSCredentials) -> Bool = { _ in true }
) -> (actions: [SOCKSServerHandshake.Action], earlyData: [UInt8]) {
    var machine = SOCKSServerHandshake(requiresAuthentication: requiresAuthentication)
    var actions: [SOCKSServerHandshake.Action] = []
    var remaining = chunks[...]
    loop: while true {
        var action = machine.next()
        if case .verifyCredentials(let credentials) = action {
            actions.append(action)
            action = machine.credentialsVerified(accept(credentials))
        }
        switch action {
        case .needMoreBytes:
            guard let chunk = remaining.popFirst() else { break loop }
            machine.receive(chunk)
        case .request, .fail:
            actions.append(action)
            break loop
        default:
            actions.append(action)
        }
    }
    return (actions, machine.takeEarlyData())
}

/// The same bytes as one chunk, as single bytes, and split in the middle of every message.
func feeds(_ bytes: [UInt8]) -> [[[UInt8]]] {
    [[bytes], bytes.map { [$0] }, stride(from: 0, to: bytes.count, by: 3).map { Array(bytes[$0..<min($0 + 3, bytes.count)]) }]
}

@Suite struct ServerHandshakeTests {
    let request = SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .domain("example.com"), port: 443))

    @Test func noAuthenticationHandshakeIsTheSameHoweverSplit() {
        let bytes = SOCKSGreeting(methods: [.noAuthentication]).encoded() + request.encoded()
        for feed in feeds(bytes) {
            let (actions, early) = drive(feed)
            #expect(actions == [.send([0x05, 0x00]), .request(request)])
            #expect(early.isEmpty)
        }
    }

    @Test func usernamePasswordHandshakeIsTheSameHoweverSplit() {
        let credentials = SOCKSCredentials(username: "alice", password: "pw")
        let bytes = SOCKSGreeting(methods: [.noAuthentication, .usernamePassword]).encoded() + credentials.encoded() + request.encoded()
        for feed in feeds(bytes) {
            let (actions, _) = drive(feed, requiresAuthentication: true)
            #expect(actions == [.send([0x05, 0x02]), .verifyCredentials(credentials), .send([0x01, 0x00]), .request(request)])
        }
    }

    @Test func wrongPasswordFailsWithStatusOne() {
        let credentials = SOCKSCredentials(username: "alice", password: "wrong")
        let bytes = SOCKSGreeting(methods: [.usernamePassword]).encoded() + credentials.encoded()
        let (actions, _) = drive([bytes], requiresAuthentication: true, accept: { _ in false })
        #expect(actions.last == .fail(reply: [0x01, 0x01], .authenticationFailed(username: "alice")))
    }

    @Test func noAcceptableMethodGetsFF() {
        let (actions, _) = drive([SOCKSGreeting(methods: [.noAuthentication, .gssapi]).encoded()], requiresAuthentication: true)
        #expect(actions == [.fail(reply: [0x05, 0xFF], .noAcceptableMethod(offered: [0, 1]))])
        let (plain, _) = drive([SOCKSGreeting(methods: [.usernamePassword]).encoded()], requiresAuthentication: false)
        #expect(plain == [.fail(reply: [0x05, 0xFF], .noAcceptableMethod(offered: [2]))])
    }

    @Test func zeroMethodsGetsFF() {
        let (actions, _) = drive([[0x05, 0x00]])
        #expect(actions == [.fail(reply: [0x05, 0xFF], .noAcceptableMethod(offered: []))])
    }

    @Test func earlyDataStaysBuffered() {
        let payload = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        let bytes = SOCKSGreeting(methods: [.noAuthentication]).encoded() + request.encoded() + payload
        for feed in feeds(bytes) {
            let (actions, early) = drive(feed)
            #expect(actions.last == .request(request))
            // Byte-by-byte feeding stops at the request, so only what had arrived by then is early data.
            #expect(payload.starts(with: early))
        }
        #expect(drive([bytes]).earlyData == payload)
    }

    @Test func unknownAddressTypeGetsReply08() {
        let bytes = SOCKSGreeting(methods: [.noAuthentication]).encoded() + [0x05, 0x01, 0x00, 0x07, 1, 2, 3, 4, 0, 80]
        for feed in feeds(bytes) {
            let (actions, _) = drive(feed)
            #expect(actions.last == .fail(reply: [0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0], .malformed(.unsupportedAddressType(7))))
        }
    }

    @Test func nonSOCKS5GreetingGetsNoReply() {
        let (actions, _) = drive([Array("GET / HTTP/1.1\r\n".utf8)])
        #expect(actions == [.fail(reply: nil, .malformed(.unsupportedVersion(0x47)))])
    }

    @Test func malformedCredentialsGetFailureStatus() {
        let bytes = SOCKSGreeting(methods: [.usernamePassword]).encoded() + [0x05, 0x01, 0x61, 0x01, 0x62]
        let (actions, _) = drive([bytes], requiresAuthentication: true)
        #expect(actions.last == .fail(reply: [0x01, 0x01], .malformed(.unsupportedVersion(5))))
    }

    @Test func credentialsVerifiedOutOfOrderFails() {
        var machine = SOCKSServerHandshake(requiresAuthentication: true)
        #expect(machine.credentialsVerified(true) == .fail(reply: nil, .outOfOrder))
    }
}

/// The session's way of feeding the machine: the first chunk adopted as its buffer, every later one read
/// in place into the buffer's room, as a socket read would.
@Suite struct ServerHandshakeInPlaceReadTests {
    let request = SOCKSRequest(command: .connect, destination: SOCKSEndpoint(address: .domain("example.com"), port: 443))

    /// Drives a handshake whose first chunk is adopted (with `capacity` reserved) and whose later chunks
    /// are read in place; nil from the reader once (nothing there yet) before each chunk.
    func driveInPlace(_ chunks: [[UInt8]], capacity: Int, minimumRoom: Int = 4) -> (actions: [SOCKSServerHandshake.Action], earlyData: [UInt8]) {
        var first = chunks[0]
        first.reserveCapacity(capacity)
        var machine = SOCKSServerHandshake(requiresAuthentication: false, adopting: first)
        var actions: [SOCKSServerHandshake.Action] = []
        var remaining = chunks.dropFirst()
        var pending: [UInt8] = []
        loop: while true {
            switch machine.next() {
            case .needMoreBytes:
                if pending.isEmpty {
                    // Nothing there yet: the reader says so, and the buffer is as it was.
                    let before = machine.bufferedByteCount
                    #expect(machine.receive(minimumRoom: minimumRoom) { _, _ in nil } == nil)
                    #expect(machine.bufferedByteCount == before)
                    guard let chunk = remaining.popFirst() else { break loop }
                    pending = chunk
                }
                // One read takes what fits in the room offered, as recv does.
                let count = machine.receive(minimumRoom: minimumRoom) { buffer, offset in
                    let count = min(pending.count, buffer.count - offset)
                    buffer[offset..<offset + count] = pending[0..<count]
                    pending.removeFirst(count)
                    return count
                }
                #expect((count ?? 0) > 0)
            case let action:
                actions.append(action)
                if case .request = action { break loop }
                if case .fail = action { break loop }
            }
        }
        return (actions, machine.takeEarlyData() + pending + remaining.joined())
    }

    @Test func inPlaceReadsGiveTheSameActionsHoweverSplit() {
        let payload = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        let bytes = SOCKSGreeting(methods: [.noAuthentication]).encoded() + request.encoded() + payload
        for feed in feeds(bytes) {
            for capacity in [0, 8, 768] {
                let (actions, early) = driveInPlace(feed, capacity: capacity)
                #expect(actions == [.send([0x05, 0x00]), .request(request)])
                #expect(early == payload)
            }
        }
    }

    @Test func theAdoptedBufferComesBackWithItsCapacityAfterTheEarlyData() {
        var first = SOCKSGreeting(methods: [.noAuthentication]).encoded() + request.encoded() + [1, 2, 3]
        first.reserveCapacity(768)
        var machine = SOCKSServerHandshake(requiresAuthentication: false, adopting: first)
        #expect(machine.next() == .send([0x05, 0x00]))
        #expect(machine.next() == .request(request))
        #expect(machine.takeEarlyData() == [1, 2, 3])
        let buffer = machine.takeBuffer()
        #expect(buffer.isEmpty)
        #expect(buffer.capacity >= 768)
        #expect(machine.bufferedByteCount == 0)
    }

    @Test func aReadThatFailsLeavesTheBufferedBytes() {
        struct Failure: Error {}
        var machine = SOCKSServerHandshake(requiresAuthentication: false, adopting: [0x05])
        #expect(throws: Failure.self) { _ = try machine.receive(minimumRoom: 16) { (_, _) throws(Failure) in throw Failure() } }
        #expect(machine.bufferedByteCount == 1)
        _ = machine.receive(minimumRoom: 16) { buffer, offset in
            buffer[offset] = 0x01
            buffer[offset + 1] = 0x00
            return 2
        }
        #expect(machine.next() == .send([0x05, 0x00]))
    }
}
