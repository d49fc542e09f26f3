import Foundation
import SOCKSProtocol

/// GSS-API logins (RFC 1961, SOCKS5 method `01`) with Kerberos keys from a keytab (`--gssapi-keytab FILE`):
/// the client's principal (`alice@EXAMPLE.TEST`) becomes the session's user.
///
/// `libgssapi_krb5.so.2` (MIT Kerberos) is loaded at run time, once; `init` fails when it cannot be, or when
/// the keytab holds no key for the service. Each session accepts its own `GSSAPISecurityContext`.
public struct GSSAPIAcceptor: Sendable {
    /// The keytab the service's keys are read from.
    public let keytab: String
    /// The service: `NAME` accepts the keys of `NAME/HOST` for any host in the keytab, `NAME@HOST` those of
    /// `NAME/HOST` only. Default `rcmd`, what curl and Dante's clients ask for.
    public let service: String
    /// The least protection a client is granted (`--gssapi-protection`): a client that asks for less is
    /// offered this level instead.
    public let minimumProtection: GSSAPIProtection

    let credential: GSSAPICredential

    /// Why GSS-API logins cannot be offered.
    public enum Problem: Error, Hashable, CustomStringConvertible {
        /// libgssapi_krb5 could not be loaded (the reason from the loader).
        case libraryUnavailable(String)
        /// The service name is empty, or holds a zero byte or `/`.
        case invalidService(String)
        /// The keytab is not a readable file.
        case keytabUnreadable(String)
        /// The library cannot find the service's keys in the keytab (its words why).
        case credentialUnavailable(String)

        public var description: String {
            switch self {
            case .libraryUnavailable(let why):
                "GSS-API logins need libgssapi_krb5.so.2 (Debian: libgssapi-krb5-2), which cannot be loaded: \(why)"
            case .invalidService(let name):
                "'\(name)' is not a GSS-API service name (NAME, or NAME@HOST, such as rcmd)"
            case .keytabUnreadable(let path):
                "\(path) cannot be read: a keytab (kadmin's ktadd writes one) is needed"
            case .credentialUnavailable(let why):
                "the keytab holds no usable key for the service: \(why)"
            }
        }
    }

    /// Logins with the keys of `service` in `keytab`, granting at least `minimumProtection`: loads the
    /// library and acquires the service's credential.
    public init(keytab: String, service: String = "rcmd", minimumProtection: GSSAPIProtection = .none) throws(Problem) {
        try self.init(keytab: keytab, service: service, minimumProtection: minimumProtection, library: LibGSSAPI.system)
    }

    init(keytab: String, service: String, minimumProtection: GSSAPIProtection, library: Result<LibGSSAPI, LibGSSAPI.LoadError>) throws(Problem) {
        guard !service.isEmpty, !service.utf8.contains(0), !service.contains("/") else { throw .invalidService(service) }
        guard FileManager.default.isReadableFile(atPath: keytab) else { throw .keytabUnreadable(keytab) }
        let loaded: LibGSSAPI
        switch library {
        case .success(let library): loaded = library
        case .failure(let error): throw .libraryUnavailable(error.description)
        }
        self.keytab = keytab
        self.service = service
        self.minimumProtection = minimumProtection
        self.credential = try GSSAPICredential(library: loaded, service: service, keytab: keytab)
    }

    /// A new context for one session's login.
    func makeContext() -> GSSAPISecurityContext {
        GSSAPISecurityContext(credential: credential)
    }
}
