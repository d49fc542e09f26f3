/// The server side of a SOCKS5 handshake, with no I/O: feed it the bytes a client sends, and it says what
/// to write back and when the request is complete.
///
/// However the client's bytes are split or merged, the same actions come out in the same order. Bytes
/// that follow the request (a client that sends data before the reply) stay in the buffer as early data.
///
/// ```swift
/// var handshake = SOCKSServerHandshake(requiresAuthentication: false)
/// handshake.receive(bytes)
/// loop: switch handshake.next() { ... }
/// ```
package struct SOCKSServerHandshake: Sendable {
    package enum State: Hashable, Sendable {
        case awaitingGreeting
        case awaitingCredentials
        case verifyingCredentials
        /// GSS-API (RFC 1961) was chosen: a context-establishment message is next.
        case awaitingSecurityToken
        /// The caller is accepting the client's token (`.acceptSecurityContext`).
        case acceptingSecurityContext
        /// The context is complete: the protection-level subnegotiation message is next.
        case awaitingProtectionLevel
        /// The caller is choosing the level (`.negotiateProtection`).
        case choosingProtection
        case awaitingRequest
        /// A protection level was granted: the request comes encapsulated (RFC 1961 §5, message type 3).
        case awaitingEncapsulatedRequest
        /// The caller is unwrapping a message that carries (part of) the request (`.unwrap`).
        case unwrappingRequest
        case completed(SOCKSRequest)
        case failed(SOCKSHandshakeFailure)
    }

    /// What the server must do next.
    package enum Action: Hashable, Sendable {
        /// Read more bytes from the client, pass them to `receive`, and call `next()` again.
        case needMoreBytes
        /// Write these bytes to the client, then call `next()` again.
        case send([UInt8])
        /// Check the credentials and report with `credentialsVerified(_:)`.
        case verifyCredentials(SOCKSCredentials)
        /// Feed this GSS-API token to `gss_accept_sec_context` and report with `securityContextStep(_:)`.
        case acceptSecurityContext([UInt8])
        /// Choose a protection level for this subnegotiation token (one octet in clear, NEC-style, or that
        /// octet `gss_wrap`ped) and report with `protectionChosen(reply:)` or `protectionRefused(_:)`.
        case negotiateProtection([UInt8])
        /// `gss_unwrap` this encapsulated token and report with `requestUnwrapped(_:)` or `unwrapFailed(_:)`.
        /// A failure the machine reports after this (`.fail`) carries a plaintext reply, which the caller
        /// wraps as well.
        case unwrap([UInt8])
        /// The handshake is done: serve this request. `takeEarlyData()` returns what the client sent after it.
        case request(SOCKSRequest)
        /// Write `reply` (if any), then close the connection.
        case fail(reply: [UInt8]?, SOCKSHandshakeFailure)
    }

    package private(set) var state: State = .awaitingGreeting
    /// Whether the server insists on RFC 1929 username/password.
    package let requiresAuthentication: Bool
    /// Whether the server offers GSS-API (method `01`, RFC 1961). Chosen whenever the client offers it;
    /// without `requiresAuthentication`, it is the only method accepted (a GSS-API server wants a login).
    package let offersGSSAPI: Bool
    /// The credentials accepted, once `credentialsVerified(true)` was called.
    package private(set) var authenticatedUser: SOCKSCredentials?

    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var pendingCredentials: SOCKSCredentials?
    /// The GSS-API token the caller is working on (`.acceptSecurityContext`, `.negotiateProtection`, `.unwrap`).
    private var pendingToken: [UInt8] = []
    /// The plaintext unwrapped so far of an encapsulated request.
    private var unwrappedRequest: [UInt8] = []

    package init(requiresAuthentication: Bool, offersGSSAPI: Bool = false) {
        self.requiresAuthentication = requiresAuthentication
        self.offersGSSAPI = offersGSSAPI
    }

    /// A handshake whose first bytes are `received`, kept as they are: the array becomes the buffer, and
    /// its spare capacity the room `receive(atMost:reading:)` reads later bytes into (no copy, no second
    /// buffer).
    package init(requiresAuthentication: Bool, offersGSSAPI: Bool = false, adopting received: consuming [UInt8]) {
        self.requiresAuthentication = requiresAuthentication
        self.offersGSSAPI = offersGSSAPI
        self.buffer = received
    }

    /// Adds bytes read from the client.
    package mutating func receive<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        // Consumed bytes leave here, not in `consume`, where the parser's reader still shares the buffer
        // (emptying it there would copy it). The first bytes get room for a whole handshake, so a
        // session's later messages fit without growing it.
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
        if buffer.capacity == 0 { buffer.reserveCapacity(Swift.max(Self.initialCapacity, bytes.underestimatedCount)) }
        buffer.append(contentsOf: bytes)
    }

    /// Room for a greeting, an RFC 1929 login and a request with the longest name.
    private static let initialCapacity = 3 + 255 + 3 + 255 + 255 + 7 + 10

    /// Reads bytes straight into the buffer: `read` fills `buffer` from `offset` to its end and returns how
    /// many bytes it read (0 at the end of the stream), or `nil` when none are there yet. The room offered
    /// is the buffer's spare capacity, and at least `minimumRoom` bytes.
    ///
    /// - Returns: what `read` returned.
    package mutating func receive<Failure: Error>(
        minimumRoom: Int, reading read: (_ buffer: inout [UInt8], _ offset: Int) throws(Failure) -> Int?
    ) throws(Failure) -> Int? {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
        let start = buffer.count
        let room = Swift.max(buffer.capacity - start, minimumRoom)
        buffer.append(contentsOf: repeatElement(0, count: room))
        let count: Int?
        do {
            count = try read(&buffer, start)
        } catch {
            buffer.removeLast(room)
            throw error
        }
        buffer.removeLast(room - (count ?? 0))
        return count
    }

    /// Advances as far as the buffered bytes allow.
    package mutating func next() -> Action {
        switch state {
        case .awaitingGreeting:
            // The offered methods as bytes (a `SOCKSGreeting` would hold them in an array of their own).
            let offered: ArraySlice<UInt8>
            switch consume(Self.parseGreetingMethods) {
            case .parsed(let methods): offered = methods
            case .stop(let action): return action
            }
            if offersGSSAPI && offered.contains(SOCKSAuthenticationMethod.gssapi.rawValue) {
                state = .awaitingSecurityToken
                return .send(Self.selectsGSSAPI)
            }
            let wanted: SOCKSAuthenticationMethod = requiresAuthentication ? .usernamePassword : .noAuthentication
            guard offered.contains(wanted.rawValue), requiresAuthentication || !offersGSSAPI else {
                let failure = SOCKSHandshakeFailure.noAcceptableMethod(offered: Array(offered))
                state = .failed(failure)
                return .fail(reply: SOCKSMethodSelection(method: .noAcceptableMethods).encoded(), failure)
            }
            state = requiresAuthentication ? .awaitingCredentials : .awaitingRequest
            return .send(requiresAuthentication ? Self.selectsUsernamePassword : Self.selectsNoAuthentication)
        case .awaitingCredentials:
            switch consume(SOCKSCredentials.parse) {
            case .parsed(let credentials):
                state = .verifyingCredentials
                pendingCredentials = credentials
                return .verifyCredentials(credentials)
            case .stop(let action):
                return action
            }
        case .verifyingCredentials:
            return .verifyCredentials(pendingCredentials!)
        case .awaitingSecurityToken:
            switch consume(GSSAPIMessage.parse) {
            case .parsed(let message):
                if let failure = unexpected(message, expecting: .contextEstablishment) { return failure }
                state = .acceptingSecurityContext
                pendingToken = Array(message.token)
                return .acceptSecurityContext(pendingToken)
            case .stop(let action):
                return action
            }
        case .acceptingSecurityContext:
            return .acceptSecurityContext(pendingToken)
        case .awaitingProtectionLevel:
            switch consume(GSSAPIMessage.parse) {
            case .parsed(let message):
                if let failure = unexpected(message, expecting: .protectionNegotiation) { return failure }
                state = .choosingProtection
                pendingToken = Array(message.token)
                return .negotiateProtection(pendingToken)
            case .stop(let action):
                return action
            }
        case .choosingProtection:
            return .negotiateProtection(pendingToken)
        case .awaitingRequest:
            switch consume(SOCKSRequest.parse) {
            case .parsed(let request):
                state = .completed(request)
                return .request(request)
            case .stop(let action):
                return action
            }
        case .awaitingEncapsulatedRequest:
            switch consume(GSSAPIMessage.parse) {
            case .parsed(let message):
                if let failure = unexpected(message, expecting: .encapsulation) { return failure }
                state = .unwrappingRequest
                pendingToken = Array(message.token)
                return .unwrap(pendingToken)
            case .stop(let action):
                return action
            }
        case .unwrappingRequest:
            return .unwrap(pendingToken)
        case .completed(let request):
            return .request(request)
        case .failed(let failure):
            return .fail(reply: nil, failure)
        }
    }

    /// The method selections a successful greeting gets, made once: `05 00` and `05 02`.
    private static let selectsNoAuthentication = SOCKSMethodSelection(method: .noAuthentication).encoded()
    private static let selectsUsernamePassword = SOCKSMethodSelection(method: .usernamePassword).encoded()
    private static let selectsGSSAPI = SOCKSMethodSelection(method: .gssapi).encoded()

    /// A GSS-API failure for a message that is not of the kind the exchange is at: the client's own abort
    /// ends it without an answer, any other kind with the abort message.
    private mutating func unexpected(_ message: GSSAPIMessage, expecting kind: GSSAPIMessage.Kind) -> Action? {
        guard message.kind != kind else { return nil }
        let failure = SOCKSHandshakeFailure.gssapiFailed(
            message.kind == .abort ? "the client aborted" : "message type \(message.kind) where \(kind) was expected")
        state = .failed(failure)
        return .fail(reply: message.kind == .abort ? nil : GSSAPIMessage.abortBytes, failure)
    }

    /// How one round of `gss_accept_sec_context` went, for `securityContextStep(_:)`.
    package enum SecurityContextStep: Hashable, Sendable {
        /// Another round is needed: send this token, and accept the client's next one.
        case continueNeeded([UInt8])
        /// The context is complete: send this token (if not empty); the subnegotiation follows.
        case established([UInt8])
        /// The token was refused (the reason for the log): the client gets `01 FF`, and the connection closes.
        case refused(String)
    }

    /// Reports the round that `.acceptSecurityContext` asked for.
    ///
    /// - Returns: `.send` with the server's token, `.needMoreBytes` when the context is complete without one,
    ///   or `.fail` with the abort message.
    package mutating func securityContextStep(_ step: SecurityContextStep) -> Action {
        guard case .acceptingSecurityContext = state else { return .fail(reply: nil, .outOfOrder) }
        pendingToken = []
        let token: [UInt8]
        switch step {
        case .continueNeeded(let next):
            state = .awaitingSecurityToken
            token = next
        case .established(let last):
            state = .awaitingProtectionLevel
            guard !last.isEmpty else { return next() }
            token = last
        case .refused(let reason):
            let failure = SOCKSHandshakeFailure.gssapiFailed(reason)
            state = .failed(failure)
            return .fail(reply: GSSAPIMessage.abortBytes, failure)
        }
        guard token.count <= GSSAPIMessage.maximumTokenLength else {
            let failure = SOCKSHandshakeFailure.gssapiFailed("a token of \(token.count) octets does not fit a message")
            state = .failed(failure)
            return .fail(reply: GSSAPIMessage.abortBytes, failure)
        }
        return .send(GSSAPIMessage(kind: .contextEstablishment, token: token[...]).encoded())
    }

    /// Reports the level chosen for `.negotiateProtection`: `reply` is the answer's token (the level octet
    /// as the client sent its own: in clear, or wrapped). The request follows: in plain SOCKS5 at level 0,
    /// else (`encapsulated`) in messages of type 3 (`.unwrap`).
    package mutating func protectionChosen(reply: [UInt8], encapsulated: Bool = false) -> Action {
        guard case .choosingProtection = state, reply.count <= GSSAPIMessage.maximumTokenLength else {
            return .fail(reply: nil, .outOfOrder)
        }
        pendingToken = []
        state = encapsulated ? .awaitingEncapsulatedRequest : .awaitingRequest
        return .send(GSSAPIMessage(kind: .protectionNegotiation, token: reply[...]).encoded())
    }

    /// Reports the plaintext of the token `.unwrap` gave: the request is parsed from what has been unwrapped
    /// so far (it may take more than one message); what follows it is early data (`takeUnwrappedEarlyData()`).
    package mutating func requestUnwrapped(_ plaintext: [UInt8]) -> Action {
        guard case .unwrappingRequest = state else { return .fail(reply: nil, .outOfOrder) }
        pendingToken = []
        unwrappedRequest += plaintext
        var reader = ByteReader(unwrappedRequest[...])
        do {
            guard let request = try SOCKSRequest.parse(from: &reader) else {
                state = .awaitingEncapsulatedRequest
                return next()
            }
            unwrappedRequest.removeFirst(reader.consumed)
            state = .completed(request)
            return .request(request)
        } catch {
            let failure = SOCKSHandshakeFailure.malformed(error)
            state = .failed(failure)
            if case .unsupportedVersion = error { return .fail(reply: nil, failure) }
            return .fail(reply: SOCKSReply(code: error.replyCode).encoded(), failure)
        }
    }

    /// Reports that the token `.unwrap` gave cannot be unwrapped (forged, replayed, out of order): the
    /// connection closes without an answer.
    package mutating func unwrapFailed(_ reason: String) -> Action {
        guard case .unwrappingRequest = state else { return .fail(reply: nil, .outOfOrder) }
        pendingToken = []
        let failure = SOCKSHandshakeFailure.gssapiFailed(reason)
        state = .failed(failure)
        return .fail(reply: nil, failure)
    }

    /// The plaintext unwrapped after an encapsulated request: data the client sent before it saw the reply.
    /// (The bytes still encapsulated after it are `takeEarlyData()`'s.)
    package mutating func takeUnwrappedEarlyData() -> [UInt8] {
        Swift.exchange(&unwrappedRequest, with: [])
    }

    /// Reports that no level can be granted (the reason for the log): the client gets `01 FF`, and the
    /// connection closes.
    package mutating func protectionRefused(_ reason: String) -> Action {
        guard case .choosingProtection = state else { return .fail(reply: nil, .outOfOrder) }
        pendingToken = []
        let failure = SOCKSHandshakeFailure.gssapiFailed(reason)
        state = .failed(failure)
        return .fail(reply: GSSAPIMessage.abortBytes, failure)
    }

    /// `SOCKSGreeting.parse`, giving the offered methods as the bytes received.
    private static func parseGreetingMethods(from reader: inout ByteReader) throws(SOCKSProtocolError) -> ArraySlice<UInt8>? {
        guard let version = reader.readByte() else { return nil }
        guard version == 0x05 else { throw .unsupportedVersion(version) }
        guard let count = reader.readByte() else { return nil }
        return reader.readBytes(Int(count))
    }

    /// Reports the verdict on the credentials that `.verifyCredentials` asked about.
    ///
    /// - Returns: `.send` with the success status, or `.fail` with the failure status (RFC 1929: the server
    ///   then closes the connection).
    package mutating func credentialsVerified(_ accepted: Bool) -> Action {
        guard case .verifyingCredentials = state, let credentials = pendingCredentials else {
            return .fail(reply: nil, .outOfOrder)
        }
        pendingCredentials = nil
        if accepted {
            authenticatedUser = credentials
            state = .awaitingRequest
            return .send(SOCKSAuthenticationStatus.success.encoded())
        }
        let failure = SOCKSHandshakeFailure.authenticationFailed(username: credentials.usernameText)
        state = .failed(failure)
        return .fail(reply: SOCKSAuthenticationStatus.failure.encoded(), failure)
    }

    /// The bytes received after the request: data the client sent before it saw the reply. Empties the buffer
    /// (keeping its capacity, for `takeBuffer()`).
    package mutating func takeEarlyData() -> [UInt8] {
        defer { buffer.removeAll(keepingCapacity: true); readIndex = 0 }
        return Array(buffer[readIndex...])
    }

    /// Hands over the buffer (with whatever it holds, and its capacity) and empties the machine: a caller
    /// that gave it the buffer can reuse it. Take the early data first.
    package mutating func takeBuffer() -> [UInt8] {
        defer { readIndex = 0 }
        return Swift.exchange(&buffer, with: [])
    }

    /// How many received bytes are not yet consumed.
    package var bufferedByteCount: Int { buffer.count - readIndex }

    private enum Consumed<Message> {
        case parsed(Message)
        /// Not enough bytes, or a malformed message: the action to return.
        case stop(Action)
    }

    /// Parses one message at the read position; on success the bytes are consumed.
    private mutating func consume<Message>(
        _ parser: (inout ByteReader) throws(SOCKSProtocolError) -> Message?
    ) -> Consumed<Message> {
        var reader = ByteReader(buffer[readIndex...])
        do {
            guard let message = try parser(&reader) else { return .stop(.needMoreBytes) }
            readIndex = reader.position
            return .parsed(message)
        } catch {
            let failure = SOCKSHandshakeFailure.malformed(error)
            let reply = failureReply(for: error)
            state = .failed(failure)
            return .stop(.fail(reply: reply, failure))
        }
    }

    /// What a malformed message earns: a reply with the right code in the request phase (an unknown ATYP gets
    /// 08), a failure status in the RFC 1929 phase, and silence for a greeting that is not SOCKS5.
    private func failureReply(for error: SOCKSProtocolError) -> [UInt8]? {
        switch state {
        case .awaitingRequest:
            if case .unsupportedVersion = error { return nil }
            return SOCKSReply(code: error.replyCode).encoded()
        case .awaitingCredentials:
            return SOCKSAuthenticationStatus.failure.encoded()
        case .awaitingSecurityToken, .awaitingProtectionLevel:
            return GSSAPIMessage.abortBytes
        default:
            return nil
        }
    }
}

/// Why a handshake ended without a request to serve.
package enum SOCKSHandshakeFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The client offered none of the methods the server accepts (it was sent `05 FF`).
    case noAcceptableMethod(offered: [UInt8])
    /// The RFC 1929 credentials were refused.
    case authenticationFailed(username: String)
    /// The GSS-API login (RFC 1961) failed: a token refused, a message out of place, no level to grant.
    case gssapiFailed(String)
    /// The client's bytes are not valid SOCKS5.
    case malformed(SOCKSProtocolError)
    /// `credentialsVerified` was called when no credentials were pending.
    case outOfOrder

    package var description: String {
        switch self {
        case .noAcceptableMethod(let offered):
            "no acceptable authentication method (offered: \(offered.map(hexByte).joined(separator: ",")))"
        case .authenticationFailed(let username): "authentication failed for user \(username)"
        case .gssapiFailed(let reason): "GSS-API login failed: \(reason)"
        case .malformed(let error): "malformed handshake: \(error)"
        case .outOfOrder: "handshake driven out of order"
        }
    }
}

/// `0x02`-style hex for a byte, for log lines.
func hexByte(_ byte: UInt8) -> String {
    "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
}
