import Foundation
import SOCKSProtocol

/// A PAM service that checks the logins of users not in the `UserDatabase` (`--pam-service NAME`): system
/// accounts, or LDAP, SSSD or one-time codes behind PAM, as the service's file in `/etc/pam.d` (or in
/// `configurationDirectory`) stacks them.
///
/// A login is `pam_authenticate`, the password given through the conversation function, then
/// `pam_acct_mgmt` (an expired or locked account is refused even with the right password). It blocks for
/// as long as the modules take, so it runs on `PasswordCheckPool`'s threads, under the same queue bound and
/// wait as crypt(3) hashes (`UserDatabase.check(_:)` sends it there). libpam is loaded at run time, once;
/// `init` fails when it cannot be.
public struct PAMService: Sendable, Hashable {
    /// The service's name: the file PAM reads its stack from (Linux-PAM lower-cases it).
    public let name: String
    /// Where the service's file is read from instead of `/etc/pam.d` (`pam_start_confdir`, Linux-PAM 1.4 or
    /// later); nil for the system's PAM configuration.
    public let configurationDirectory: String?

    /// Why a service cannot be used.
    public enum Problem: Error, Hashable, CustomStringConvertible {
        /// libpam could not be loaded (the reason from the loader).
        case libpamUnavailable(String)
        /// The name is empty, or holds `/` or a zero byte: not the name of a file in a directory.
        case invalidName(String)
        /// A configuration directory was given, but this libpam is older than Linux-PAM 1.4.
        case configurationDirectoryUnsupported
        /// The configuration directory holds no file for the service (PAM would fall back to `other`).
        case serviceFileMissing(String)

        public var description: String {
            switch self {
            case .libpamUnavailable(let why):
                "PAM logins need libpam.so.0 (Debian: libpam0g), which cannot be loaded: \(why)"
            case .invalidName(let name):
                "'\(name)' is not a PAM service name (a file name in /etc/pam.d: not empty, without '/')"
            case .configurationDirectoryUnsupported:
                "this libpam has no pam_start_confdir (Linux-PAM 1.4 or later is needed to read a service from another directory)"
            case .serviceFileMissing(let path):
                "\(path) does not exist: PAM would fall back to the 'other' service"
            }
        }
    }

    /// A service named `name`, read from `configurationDirectory` when given: loads libpam, and checks the
    /// name and that the directory holds the service's file.
    public init(name: String, configurationDirectory: String? = nil) throws(Problem) {
        try self.init(name: name, configurationDirectory: configurationDirectory, library: LibPAM.system)
    }

    init(name: String, configurationDirectory: String?, library: Result<LibPAM, LibPAM.LoadError>) throws(Problem) {
        guard !name.isEmpty, !name.contains("/"), !name.utf8.contains(0) else { throw .invalidName(name) }
        let libpam: LibPAM
        switch library {
        case .success(let loaded): libpam = loaded
        case .failure(let error): throw .libpamUnavailable(error.description)
        }
        if let configurationDirectory {
            guard libpam.supportsConfigurationDirectory else { throw .configurationDirectoryUnsupported }
            // Linux-PAM reads the lower-cased name.
            let path = (configurationDirectory.hasSuffix("/") ? configurationDirectory : configurationDirectory + "/") + name.lowercased()
            guard FileManager.default.fileExists(atPath: path) else { throw .serviceFileMissing(path) }
        }
        self.name = name
        self.configurationDirectory = configurationDirectory
    }

    /// Logs `credentials` in through the service, `remoteHost` (the client's address as text) set as
    /// PAM_RHOST when known. Blocks for as long as the modules take: this belongs on `PasswordCheckPool`'s threads. A name
    /// or password with a zero byte cannot reach PAM whole (a C string ends there) and is refused without
    /// asking it.
    func login(_ credentials: SOCKSCredentials, remoteHost: String? = nil) -> LibPAM.Outcome {
        guard !credentials.username.contains(0), !credentials.password.contains(0), case .success(let libpam) = LibPAM.system else {
            return .refused(stage: .start, code: 0)
        }
        return libpam.login(
            service: name, configurationDirectory: configurationDirectory, user: credentials.username, password: credentials.password,
            remoteHost: remoteHost)
    }
}
