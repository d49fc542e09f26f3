import Foundation
import Testing
import TestSupport

/// Dante's SOCKS client (`socksify` and its preloaded `libdsocksd`) built with GSS-API from Debian's source
/// package by `Scripts/dante-gssapi` (Debian's own dante-client is built without it), which `.ci/run` runs.
/// It is found in the script's cache directory, or at `$SOCKSD_DANTE_PREFIX`.
struct DanteGSSAPIClient {
    /// Where the script installs the build (`--prefix`), unless `SOCKSD_DANTE_PREFIX` says otherwise.
    static let prefix = ProcessInfo.processInfo.environment["SOCKSD_DANTE_PREFIX"] ?? "/var/cache/socksd-tests/dante-1.4.2-gssapi"
    static var socksify: String { prefix + "/bin/socksify" }
    static var library: String { prefix + "/lib/libdsocksd.so" }

    /// Whether the build is there. Without it the tests run all the same in CI (`CI` set), where they fail
    /// with `missingMessage`, since `.ci/run` builds it; a developer without it sees them skipped with it.
    static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: socksify) && FileManager.default.fileExists(atPath: library)
    }
    static var shouldRun: Bool { isInstalled || ProcessInfo.processInfo.environment["CI"] != nil }
    static let missingMessage =
        "Dante with GSS-API is not built in \(prefix): run Scripts/dante-gssapi as root (it builds Debian's dante source package with GSS-API; .ci/run does)"

    /// The `socks.conf` that routes every TCP connection through socksd at `proxyPort` on 127.0.0.1 with
    /// GSS-API only, asking for `enctype` (`clear`, `integrity` or `confidentiality`), with Dante's
    /// negotiation logged to standard error.
    static func configuration(proxyPort: UInt16, enctype: String) -> String {
        """
        debug: 2
        logoutput: stderr
        route {
            from: 0.0.0.0/0 to: 0.0.0.0/0 via: 127.0.0.1 port = \(proxyPort)
            proxyprotocol: socks_v5
            protocol: tcp
            method: gssapi
            gssapi.servicename: rcmd
            gssapi.enctype: \(enctype)
        }

        """
    }

    /// Runs `program` under `socksify` with `configuration`, as the fixture's `alice`: exit status, and
    /// standard output followed by standard error (Dante's log).
    static func run(
        _ program: [String], configuration: String, kerberos: KerberosFixture, timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32, output: String) {
        guard isInstalled else {
            Issue.record("\(missingMessage)")
            throw CocoaError(.fileNoSuchFile)
        }
        let file = try TemporaryFile(configuration, name: "socksd-dante-socks.conf")
        var environment = kerberos.environment(client: "alice")
        environment["SOCKS_CONF"] = file.path
        // socksify preloads libdsocksd by its name alone (Debian's PRELOAD_NAME_ONLY): the loader finds it here.
        environment["LD_LIBRARY_PATH"] = prefix + "/lib"
        // Loopback is a LAN address to Dante: without this it would add a direct route for it.
        environment["SOCKS_AUTOADD_LANROUTES"] = "no"
        return try await runCommand(socksify, program, includeErrors: true, timeout: timeout, environment: environment)
    }
}
