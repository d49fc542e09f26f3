import SOCKSProtocol

/// Stands in for `Sources/SOCKSServer/Authentication/PasswordCheckPool.swift` in the UsersFile fuzz build,
/// which has no AsyncSockets (it needs the event loop's C shim): checks on the caller's thread. With the
/// stub `LibCrypt` no hash is ever accepted, and with the stub `LibPAM` no PAM service can be made, so
/// nothing calls it; it exists for `UserDatabase` to compile.
enum PasswordCheckPool {
    static func check(_ password: [UInt8], against hash: CryptHash) async -> Bool? {
        hash.matches(password)
    }

    static func login(_ credentials: SOCKSCredentials, from remoteHost: String?, through service: PAMService) async -> LibPAM.Outcome? {
        service.login(credentials, remoteHost: remoteHost)
    }
}
