import CGSSAPI
import Glibc
import Synchronization

/// One session's GSS-API security context (RFC 1961): accepted from the client's tokens, then what wraps
/// and unwraps the session's protected messages. Deleted when the session lets go of it (no token is sent:
/// RFC 1961 has none for the end).
///
/// The handle sits in a mutex: a context is used by one session, one call at a time, but those calls may
/// run on different threads (acceptance on the password-check pool, wrapping on the event loop), and
/// GSS-API contexts are not safe to use from two threads at once.
final class GSSAPISecurityContext: Sendable {
    private let credential: GSSAPICredential
    /// The `gss_ctx_id_t` as an integer, 0 before the first token is accepted.
    private let handle = Mutex<UInt>(0)

    init(credential: GSSAPICredential) {
        self.credential = credential
    }

    deinit {
        var functions = credential.library.functions
        // Safe: the handle the library made in accept (or none), deleted once, when nothing else can use it.
        var context = UnsafeMutableRawPointer(bitPattern: handle.withLock { $0 })
        cgss_delete_context(&functions, &context)
    }

    /// How accepting one token went.
    enum Acceptance: Sendable, Equatable {
        /// The mechanism needs another round: send this token, and accept the client's next one.
        case continueNeeded([UInt8])
        /// The context is complete; `token` (empty when the mechanism has none) goes to the client, and
        /// `initiator` is the client's principal as the library displays it (`alice@EXAMPLE.TEST`).
        case established(token: [UInt8], initiator: String)
        /// The token was refused: the library's words why.
        case failed(String)
    }

    /// Feeds the client's token to `gss_accept_sec_context`. Reads the keytab and the replay cache: a
    /// blocking call, for the password-check threads.
    func accept(_ token: [UInt8]) -> Acceptance {
        let library = credential.library
        var functions = library.functions
        var output: UnsafeMutablePointer<UInt8>?
        var outputCount = 0
        var initiator: UnsafeMutablePointer<CChar>?
        let status = handle.withLock { handle in
            // The library's handles, only passed back to it; the mutex keeps one call at a time on the context.
            var context = UnsafeMutableRawPointer(bitPattern: handle)
            // Safe: `token`'s bytes stay alive and unmoved for the call, which keeps no pointer to them;
            // the output and the name are malloc'd for us and taken (copied and freed) below.
            let status = token.withUnsafeBufferPointer { bytes in
                cgss_accept(
                    &functions, UnsafeMutableRawPointer(bitPattern: credential.handle), &context, bytes.baseAddress, bytes.count,
                    &output, &outputCount, &initiator)
            }
            handle = UInt(bitPattern: context)
            return status
        }
        let reply = LibGSSAPI.take(output, count: outputCount)
        let name: String? = initiator.map { pointer in
            // Safe: CGSSAPI malloc'd the zero-terminated name for us; copied, then freed.
            defer { free(pointer) }
            return String(cString: pointer)
        }
        if cgss_failed(status) != 0 { return .failed(library.describe(status)) }
        if cgss_continue_needed(status) != 0 { return .continueNeeded(reply) }
        guard let name, !name.isEmpty else { return .failed("the library named no initiator") }
        return .established(token: reply, initiator: name)
    }

    /// `gss_wrap` of `bytes`, encrypted when `confidential`; the library's words on failure.
    func wrap(_ bytes: [UInt8], confidential: Bool) -> Result<[UInt8], GSSAPIMessageError> {
        let library = credential.library
        var functions = library.functions
        var output: UnsafeMutablePointer<UInt8>?
        var outputCount = 0
        let status = handle.withLock { handle in
            // Safe: `bytes` stays alive and unmoved for the call; the token is malloc'd and taken below.
            bytes.withUnsafeBufferPointer { plain in
                cgss_wrap(
                    &functions, UnsafeMutableRawPointer(bitPattern: handle), confidential ? 1 : 0, plain.baseAddress, plain.count, &output,
                    &outputCount)
            }
        }
        let token = LibGSSAPI.take(output, count: outputCount)
        guard cgss_failed(status) == 0 else { return .failure(GSSAPIMessageError(reason: "gss_wrap: " + library.describe(status))) }
        return .success(token)
    }

    /// `gss_unwrap` of `token`: the plaintext, and whether it was encrypted; the library's words on failure
    /// (a forged, replayed or out-of-order token among them).
    func unwrap(_ token: ArraySlice<UInt8>) -> Result<(bytes: [UInt8], confidential: Bool), GSSAPIMessageError> {
        let library = credential.library
        var functions = library.functions
        var output: UnsafeMutablePointer<UInt8>?
        var outputCount = 0
        var confidential: Int32 = 0
        let status = handle.withLock { handle in
            // Safe: `token` stays alive and unmoved for the call; the plaintext is malloc'd and taken below.
            token.withUnsafeBufferPointer { bytes in
                cgss_unwrap(
                    &functions, UnsafeMutableRawPointer(bitPattern: handle), bytes.baseAddress, bytes.count, &output, &outputCount,
                    &confidential)
            }
        }
        let plain = LibGSSAPI.take(output, count: outputCount)
        guard cgss_failed(status) == 0 else { return .failure(GSSAPIMessageError(reason: "gss_unwrap: " + library.describe(status))) }
        return .success((plain, confidential != 0))
    }
}
