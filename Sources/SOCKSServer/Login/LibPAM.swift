import CPAM
import Glibc

/// The system's PAM library (Linux-PAM's `libpam.so.0`), found at run time.
///
/// Loaded with `dlopen` rather than linked, as `LibCrypt` is, so that building socksd needs no PAM headers
/// and a daemon without `--pam-service` never loads PAM. The library is opened once and never closed, so
/// the function addresses stay valid for the process's life. A login itself runs in C (`cpam_login`), which
/// holds the conversation function PAM calls back.
struct LibPAM: Sendable {
    /// Why the library is unusable.
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// The library, loaded on first use; the error says why it cannot be.
    static let system: Result<LibPAM, LoadError> = load(name: "libpam.so.0")

    /// The functions' addresses, as integers so that the value is `Sendable` (a raw pointer is not); turned
    /// back into `cpam_functions` for each login.
    private let start: UInt
    /// Zero when this libpam is older than Linux-PAM 1.4, which added `pam_start_confdir`.
    private let startConfdir: UInt
    private let authenticate: UInt
    private let accountManagement: UInt
    private let getItem: UInt
    private let setItem: UInt
    private let end: UInt

    /// Whether this libpam can read a service's file from a directory of the caller's (`pam_start_confdir`).
    var supportsConfigurationDirectory: Bool { startConfdir != 0 }

    /// Opens `name` and finds the functions a login calls; every one but `pam_start_confdir` is required.
    static func load(name: String) -> Result<LibPAM, LoadError> {
        // RTLD_LOCAL: its symbols stay out of the global namespace; RTLD_NOW: a broken library fails here.
        // (PAM modules link libpam themselves, so they find its functions without RTLD_GLOBAL.)
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(LoadError(description: dlerror().map { String(cString: $0) } ?? "\(name) not found"))
        }
        func address(_ symbol: String) -> UInt { dlsym(handle, symbol).map { UInt(bitPattern: $0) } ?? 0 }
        let library = LibPAM(
            start: address("pam_start"), startConfdir: address("pam_start_confdir"), authenticate: address("pam_authenticate"),
            accountManagement: address("pam_acct_mgmt"), getItem: address("pam_get_item"), setItem: address("pam_set_item"),
            end: address("pam_end"))
        let missing = [
            ("pam_start", library.start), ("pam_authenticate", library.authenticate), ("pam_acct_mgmt", library.accountManagement),
            ("pam_get_item", library.getItem), ("pam_set_item", library.setItem), ("pam_end", library.end),
        ].filter { $0.1 == 0 }.map(\.0)
        guard missing.isEmpty else {
            dlclose(handle)
            return .failure(LoadError(description: "\(name) has no \(missing.joined(separator: ", ")) (is it Linux-PAM?)"))
        }
        return .success(library)
    }

    /// How one login ended.
    enum Outcome: Sendable, Hashable {
        /// Authenticated and the account allowed; `user` is PAM_USER after the login, nil when PAM has none
        /// (or it is longer than 255 bytes).
        case accepted(user: String?)
        /// Refused (or failed) at `stage` with PAM status `code`.
        case refused(stage: Stage, code: Int32)
    }

    /// Which call ended a refused login.
    enum Stage: Sendable, Hashable {
        case start, authenticate, accountManagement
    }

    /// Logs `user` in with `password` under `service`, its file read from `configurationDirectory` when
    /// given, with `remoteHost` (the client's address as text) as PAM_RHOST when given. Blocks for as long as
    /// the service's modules take: never call it on an event loop.
    func login(service: String, configurationDirectory: String?, user: [UInt8], password: [UInt8], remoteHost: String? = nil) -> Outcome {
        var functions = cpam_functions(
            pam_start: UnsafeMutableRawPointer(bitPattern: start), pam_start_confdir: UnsafeMutableRawPointer(bitPattern: startConfdir),
            pam_authenticate: UnsafeMutableRawPointer(bitPattern: authenticate),
            pam_acct_mgmt: UnsafeMutableRawPointer(bitPattern: accountManagement), pam_get_item: UnsafeMutableRawPointer(bitPattern: getItem),
            pam_set_item: UnsafeMutableRawPointer(bitPattern: setItem), pam_end: UnsafeMutableRawPointer(bitPattern: end))
        var result = cpam_result()
        // The password is copied into a buffer of our own, zero-terminated, and wiped after the login: the
        // conversation hands PAM copies of it, and nothing of it stays in memory freed here.
        var secret = password + [0]
        defer {
            for index in secret.indices { secret[index] = 0 }
        }
        // Safe: every pointer passed is a zero-terminated copy that withUnsafeBufferPointer (or Swift's
        // String-to-C-string bridging) keeps alive and unmoved until cpam_login returns, and cpam_login keeps
        // none of them after it returns; `functions` and `result` are locals passed by address for the call.
        secret.withUnsafeBufferPointer { secretBytes in
            (user + [0]).withUnsafeBufferPointer { userBytes in
                secretBytes.withMemoryRebound(to: CChar.self) { secretChars in
                    userBytes.withMemoryRebound(to: CChar.self) { userChars in
                        // An optional String passes as a C string that lives for the call, or as NULL.
                        cpam_login(
                            &functions, service, configurationDirectory, userChars.baseAddress, secretChars.baseAddress, remoteHost, &result)
                    }
                }
            }
        }
        switch result.stage {
        case CPAM_ACCEPTED:
            // Safe: `user` is a fixed array of CPAM_USER_CAPACITY + 1 bytes inside `result` (read from a copy
            // for the closure's duration), zero-terminated by cpam_login: zeroed first, and only ever given a
            // string that fits with its zero.
            let name = withUnsafeBytes(of: result.user) { bytes in
                Array(bytes.prefix { $0 != 0 })
            }
            return .accepted(user: name.isEmpty ? nil : String(decoding: name, as: UTF8.self))
        case CPAM_START_FAILED:
            return .refused(stage: .start, code: result.code)
        case CPAM_AUTHENTICATE_FAILED:
            return .refused(stage: .authenticate, code: result.code)
        default:
            return .refused(stage: .accountManagement, code: result.code)
        }
    }
}
