/// Stands in for `Sources/SOCKSServer/Authentication/LibPAM.swift` in the UsersFile and ConfigFile fuzz builds:
/// a libpam that cannot be loaded, so no PAMService can be made and no login reaches PAM.
///
/// The real library is left out on purpose: its C shim (CPAM) is not part of these builds, and what the
/// targets check is the parsers, not PAM (the unit tests log in through real PAM services). The interface
/// is the real one's, so a change there breaks this build.
struct LibPAM: Sendable {
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    static let system: Result<LibPAM, LoadError> = .failure(LoadError(description: "not in the fuzz build"))

    var supportsConfigurationDirectory: Bool { false }

    enum Outcome: Sendable, Hashable {
        case accepted(user: String?)
        case refused(stage: Stage, code: Int32)
    }

    enum Stage: Sendable, Hashable {
        case start, authenticate, accountManagement
    }

    func login(service: String, configurationDirectory: String?, user: [UInt8], password: [UInt8], remoteHost: String? = nil) -> Outcome {
        .refused(stage: .start, code: 0)
    }
}
