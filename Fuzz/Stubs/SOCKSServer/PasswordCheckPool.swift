/// Stands in for `Sources/SOCKSServer/Authentication/PasswordCheckPool.swift` in the UsersFile fuzz build,
/// which has no AsyncSockets (it needs the event loop's C shim): checks on the caller's thread. With the
/// stub `LibCrypt` no hash is ever accepted, so nothing calls it; it exists for `UserDatabase` to compile.
enum PasswordCheckPool {
    static func check(_ password: [UInt8], against hash: CryptHash) async -> Bool? {
        hash.matches(password)
    }
}
