import Foundation
import Testing

/// A PAM configuration directory of a test's own (for `pam_start_confdir`, so nothing is written to
/// `/etc/pam.d`): a password file of SHA-512 crypt hashes that `openssl passwd -6` makes, and service files
/// that check it with `pam_pwdfile.so` (Debian's `libpam-pwdfile`, which `.ci/run` installs). Removed with
/// everything in it when the value goes away.
package final class PAMFixture: Sendable {
    /// The configuration directory, for `--pam-confdir`.
    package let directory: String
    /// The password file the services check (`NAME:HASH` lines).
    package var passwordFile: String { directory + "/passwd" }

    /// An authentication stack over the password file, and an account stack that allows everyone: what a
    /// service needs for logins to pass.
    package static let passwordService = "auth required pam_pwdfile.so pwdfile=PWDFILE\naccount required pam_permit.so\n"
    /// The same authentication, and an account stack that refuses everyone (`pam_acct_mgmt` fails).
    package static let refusedAccountService = "auth required pam_pwdfile.so pwdfile=PWDFILE\naccount required pam_deny.so\n"

    /// Where Debian puts PAM modules, and the module the services need.
    static let pwdfileModules = ["/usr/lib/x86_64-linux-gnu/security/pam_pwdfile.so", "/usr/lib/aarch64-linux-gnu/security/pam_pwdfile.so"]

    /// Writes the password file for `users` (name → password) and a file for each of `services` (name →
    /// text, in which `PWDFILE` stands for the password file's path and `DIR` for the directory's). A
    /// missing `pam_pwdfile.so` fails the test (it is not skipped: `.ci/run` installs it).
    package init(users: [String: String], services: [String: String]) async throws {
        if !Self.pwdfileModules.contains(where: FileManager.default.fileExists(atPath:)) {
            Issue.record("pam_pwdfile.so is not installed: run .ci/run, or apt-get install libpam-pwdfile")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-pam-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        var lines: [String] = []
        for (name, password) in users.sorted(by: { $0.key < $1.key }) {
            lines.append("\(name):\(try await Self.sha512Crypt(password))")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/passwd", atomically: true, encoding: .utf8)
        for (name, text) in services {
            try write(name, text)
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `text` (with `PWDFILE` and `DIR` replaced) to the file `name` in the directory, executable
    /// when `executable` (a script for `pam_exec.so`).
    package func write(_ name: String, _ text: String, executable: Bool = false) throws {
        let path = directory + "/" + name
        let filled = text.replacingOccurrences(of: "PWDFILE", with: passwordFile).replacingOccurrences(of: "DIR", with: directory)
        try filled.write(toFile: path, atomically: true, encoding: .utf8)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path) }
    }

    /// The SHA-512 crypt(3) hash of `password` with a fresh salt, as `openssl passwd -6` writes it.
    static func sha512Crypt(_ password: String) async throws -> String {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            Issue.record("\(openssl) is not installed: run .ci/run, or apt-get install openssl")
            throw CocoaError(.fileNoSuchFile)
        }
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-pam-hash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let process = try ChildProcess(openssl, ["passwd", "-6", password], outputPath: outputPath, errorPath: "/dev/null")
        let status = try await process.exitStatus()
        let hash = try String(contentsOfFile: outputPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(status == 0 && hash.hasPrefix("$6$"), "openssl passwd -6 exited with \(status.map(String.init) ?? "no status"): \(hash)")
        return hash
    }
}
