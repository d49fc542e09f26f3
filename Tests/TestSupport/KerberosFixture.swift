import AsyncSockets
import Foundation
import Glibc
import Testing

/// A Kerberos realm of a test's own: an MIT KDC (`krb5kdc`, Debian's `krb5-kdc`) on a loopback port, its
/// database made with `kdb5_util` and `kadmin.local` (`krb5-admin-server`), a keytab with the service's keys
/// for the proxy, and a credential cache for each client principal, all in one temporary directory, with
/// `KRB5_CONFIG`, `KRB5_KDC_PROFILE`, `KRB5CCNAME` and `KRB5RCACHEDIR` pointing there: nothing is read from
/// or written to `/etc`. The KDC is killed and the directory removed when the value goes away.
///
/// Also builds the tests' own RFC 1961 client (`Tests/Helpers/socks5-gssapi-client.c`) with `gcc` against
/// the system's `libgssapi_krb5` (headers from `libkrb5-dev`), once per test process: building socksd
/// itself needs no Kerberos headers.
package final class KerberosFixture: Sendable {
    /// The realm every principal is in.
    package static let realm = "SOCKSD.TEST"
    /// The directory that holds everything.
    package let directory: String
    /// The keytab with the keys of `rcmd/localhost` (what curl and Dante's clients ask for), for
    /// `--gssapi-keytab`.
    package var serviceKeytab: String { directory + "/service.keytab" }
    /// The KDC's port on 127.0.0.1.
    package let port: UInt16
    private let kdc: ChildProcess

    /// The service principals in the KDC; `serviceKeytab` holds the keys of the first only (the others are
    /// known to the KDC, so a client gets a ticket for them, which the proxy cannot read).
    package static let services = ["rcmd/localhost", "wrong/localhost"]

    /// Makes the realm with `clients` (principal names without the realm) logged in, each with a
    /// credential cache of its own, and starts the KDC. A missing Kerberos program fails the test (it is
    /// not skipped: `.ci/run` installs them).
    package init(clients: [String] = ["alice"]) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-krb5-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        directory = root
        for program in [Self.kdb5Util, Self.kadminLocal, Self.krb5kdc, Self.kinit] where !FileManager.default.isExecutableFile(atPath: program) {
            Issue.record("\(program) is not installed: run .ci/run, or apt-get install krb5-kdc krb5-admin-server krb5-user")
            throw CocoaError(.fileNoSuchFile)
        }
        // The KDC binds a port it is told: one free a moment ago, tried again if another process took it
        // (then the KDC may run on without its TCP listener). Its listener is found in /proc, never by
        // connecting: another test's server on that port would take a probe (or a login) for a client.
        var started: (ChildProcess, UInt16)?
        var lastFailure = ""
        for _ in 0..<5 where started == nil {
            let candidate = try LoopbackPeers.freePort()
            try Self.writeConfiguration(in: root, port: candidate)
            if !FileManager.default.fileExists(atPath: root + "/principal") {
                try await Self.run(Self.kdb5Util, ["create", "-s", "-r", Self.realm, "-P", "master-\(UUID().uuidString)"], in: root)
                for principal in Self.services + clients {
                    try await Self.run(Self.kadminLocal, ["-r", Self.realm, "-q", "addprinc -randkey \(principal)"], in: root)
                }
                try await Self.run(Self.kadminLocal, ["-r", Self.realm, "-q", "ktadd -k \(root)/service.keytab \(Self.services[0])"], in: root)
                for client in clients {
                    try await Self.run(Self.kadminLocal, ["-r", Self.realm, "-q", "ktadd -k \(root)/\(client).keytab \(client)"], in: root)
                }
            }
            let process = try ChildProcess(
                Self.krb5kdc, ["-n", "-P", root + "/kdc.pid"], outputPath: root + "/krb5kdc.out", environment: Self.environment(in: root))
            guard await ListeningSockets.waitUntil(process, listensOn: [candidate]) else {
                lastFailure = (try? String(contentsOfFile: root + "/krb5kdc.out", encoding: .utf8)) ?? ""
                process.signal(SIGKILL)
                _ = try await process.exitStatus(timeout: .seconds(10))
                continue
            }
            var loggedIn = true
            for client in clients where loggedIn {
                let (status, output) = try await Self.runReporting(
                    Self.kinit, ["-k", "-t", "\(root)/\(client).keytab", client], in: root,
                    environment: ["KRB5CCNAME": "FILE:\(root)/\(client).ccache"])
                if status != 0 {
                    loggedIn = false
                    lastFailure = "kinit \(client): \(output)"
                }
            }
            if loggedIn {
                started = (process, candidate)
            } else {
                process.signal(SIGKILL)
                _ = try await process.exitStatus(timeout: .seconds(10))
            }
        }
        guard let (process, kdcPort) = started else {
            Issue.record("krb5kdc did not start (or no client could log in through it): \(lastFailure)")
            throw SocketError.timedOut
        }
        kdc = process
        port = kdcPort
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The environment a Kerberos program needs to use this realm (the proxy, a client), with the
    /// credential cache of `client` when given.
    package func environment(client: String? = nil) -> [String: String] {
        var environment = Self.environment(in: directory)
        if let client { environment["KRB5CCNAME"] = "FILE:\(directory)/\(client).ccache" }
        return environment
    }

    /// Runs the tests' RFC 1961 client (see `Tests/Helpers/socks5-gssapi-client.c` for its arguments) as
    /// `client`: its exit status and its standard output (one line per step).
    package func runClient(_ arguments: [String], client: String = "alice", timeout: Duration = .seconds(60)) async throws -> (status: Int32, output: String) {
        let binary = try await Self.clientBinary.value
        let outputPath = directory + "/client-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let process = try ChildProcess(binary, arguments, outputPath: outputPath, environment: environment(client: client))
        guard let status = try await process.exitStatus(timeout: timeout) else {
            process.signal(SIGKILL)
            Issue.record("the GSS-API client did not finish within \(timeout)")
            return (-1, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
        }
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    static let kdb5Util = "/usr/sbin/kdb5_util"
    static let kadminLocal = "/usr/sbin/kadmin.local"
    static let krb5kdc = "/usr/sbin/krb5kdc"
    static let kinit = "/usr/bin/kinit"

    /// The client, compiled once per test process into a directory of its own (kept until the process ends).
    static let clientBinary = Task<String, any Error> {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Helpers/socks5-gssapi-client.c").path
        guard FileManager.default.fileExists(atPath: "/usr/include/gssapi/gssapi.h") else {
            Issue.record("the GSS-API headers are not installed: run .ci/run, or apt-get install libkrb5-dev")
            throw CocoaError(.fileNoSuchFile)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-gssapi-client-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let binary = directory + "/socks5-gssapi-client"
        try await run("/usr/bin/gcc", ["-O1", "-Wall", "-o", binary, source, "-lgssapi_krb5"], in: directory)
        return binary
    }

    /// The files `krb5.conf` (the realm, its KDC at 127.0.0.1:`port`, no DNS) and `kdc.conf` in `root`.
    private static func writeConfiguration(in root: String, port: UInt16) throws {
        let client = """
            [libdefaults]
              default_realm = \(realm)
              dns_lookup_kdc = false
              dns_lookup_realm = false
              dns_canonicalize_hostname = false
              rdns = false
              udp_preference_limit = 1
            [realms]
              \(realm) = {
                kdc = 127.0.0.1:\(port)
              }
            [domain_realm]
              localhost = \(realm)

            """
        let server = """
            [kdcdefaults]
              kdc_listen = 127.0.0.1:\(port)
              kdc_tcp_listen = 127.0.0.1:\(port)
            [realms]
              \(realm) = {
                database_name = \(root)/principal
                key_stash_file = \(root)/stash
                acl_file = \(root)/kadm5.acl
                max_life = 1d
              }
            [logging]
              kdc = FILE:\(root)/kdc.log

            """
        try client.write(toFile: root + "/krb5.conf", atomically: true, encoding: .utf8)
        try server.write(toFile: root + "/kdc.conf", atomically: true, encoding: .utf8)
    }

    private static func environment(in root: String) -> [String: String] {
        [
            "KRB5_CONFIG": root + "/krb5.conf", "KRB5_KDC_PROFILE": root + "/kdc.conf", "KRB5CCNAME": "FILE:\(root)/default.ccache",
            "KRB5RCACHEDIR": root, "KRB5_TRACE": "/dev/null",
        ]
    }

    /// Runs a program to completion in `root`'s realm; a failure fails the test with its output.
    private static func run(_ program: String, _ arguments: [String], in root: String, environment extra: [String: String] = [:]) async throws {
        let (status, output) = try await runReporting(program, arguments, in: root, environment: extra)
        try #require(status == 0, "\(program) \(arguments.joined(separator: " ")) exited with \(status): \(output)")
    }

    /// Runs a program to completion in `root`'s realm: its exit status (-1 when it did not end within a
    /// minute, and was killed) and output.
    private static func runReporting(
        _ program: String, _ arguments: [String], in root: String, environment extra: [String: String] = [:]
    ) async throws -> (Int32, String) {
        let outputPath = root + "/setup-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let process = try ChildProcess(program, arguments, outputPath: outputPath, environment: environment(in: root).merging(extra) { $1 })
        let status = try await process.exitStatus(timeout: .seconds(60))
        if status == nil { process.signal(SIGKILL) }
        return (status ?? -1, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}
