/// Stands in for `Sources/SOCKSServer/Authentication/LibCrypt.swift` in the UsersFile fuzz build: a libcrypt
/// that cannot be loaded, so every hash-shaped secret is refused at once.
///
/// The real library is left out on purpose: a fuzzed setting can name a cost of minutes (`$5$rounds=999999999$`,
/// bcrypt's cost 31) and trip libFuzzer's timeout, and what the target checks is the parser, not libcrypt
/// (the unit tests check real hashes). The interface is the real one's, so a change there breaks this build.
struct LibCrypt: Sendable {
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    static let system: Result<LibCrypt, LoadError> = .failure(LoadError(description: "not in the fuzz build"))

    func hash(_ phrase: [UInt8], setting: [UInt8]) -> [UInt8]? { nil }

    func makeSetting(prefix: String, cost: UInt = 0) -> String? { nil }
}
