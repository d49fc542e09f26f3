import CGSSAPI

/// The acceptor credential of a GSS-API service: its keys, read from a keytab once, for every session's
/// context to be accepted with.
///
/// A final class so that the handle is released exactly once, when the last configuration that holds it
/// goes away. The handle is immutable after `init`, and MIT Kerberos locks a credential inside for the
/// contexts accepted with it at the same time, so the class is `Sendable` as it is.
final class GSSAPICredential: Sendable {
    let library: LibGSSAPI
    /// The `gss_cred_id_t`, as an integer (a raw pointer is not `Sendable`).
    let handle: UInt

    /// Acquires the credential of `service` ("NAME" or "NAME@HOST", host-based) from `keytab`; the error is
    /// the library's words for why it cannot be.
    init(library: LibGSSAPI, service: String, keytab: String) throws(GSSAPIAcceptor.Problem) {
        var functions = library.functions
        // Safe: the handle is the library's, only ever passed back to it (here, each accept, and deinit),
        // never dereferenced in Swift; `functions` and `credential` are locals passed by address for the call.
        var credential: UnsafeMutableRawPointer?
        let status = cgss_acquire_credential(&functions, service, keytab, &credential)
        guard cgss_failed(status) == 0, let credential else {
            throw .credentialUnavailable(library.describe(status))
        }
        self.library = library
        self.handle = UInt(bitPattern: credential)
    }

    deinit {
        var functions = library.functions
        // Safe: the handle cgss_acquire_credential returned, released once (the class is its only owner).
        var credential = UnsafeMutableRawPointer(bitPattern: handle)
        cgss_release_credential(&functions, &credential)
    }
}
