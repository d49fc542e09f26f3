import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport

/// `--config` and `--check-config` against the real binary: the check's output and exit status for a good
/// file, a broken one and the shipped example; a daemon started from a file serving its users under its
/// rules; a flag overriding the file. Every daemon listens on loopback only.
@Suite struct ConfigurationDaemonTests {
    /// Runs `socksd` to its end; returns its exit status, standard output and standard error's lines.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: [String]) {
        let output = try TemporaryFile("", name: "socksd-test-stdout")
        let errors = try TemporaryFile("", name: "socksd-test-stderr")
        let process = try ChildProcess(DaemonProcess.binaryPath, arguments, outputPath: output.path, errorPath: errors.path)
        guard let status = try await process.exitStatus(timeout: .seconds(30)) else {
            process.signal(SIGKILL)
            throw SocketError.timedOut
        }
        let errorText = (try? String(contentsOfFile: errors.path, encoding: .utf8)) ?? ""
        return (status, (try? String(contentsOfFile: output.path, encoding: .utf8)) ?? "", errorText.split(separator: "\n").map(String.init))
    }

    /// The example in Configuration/, which the README points to.
    static var examplePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Configuration/socksd.json").path
    }

    @Test func checkConfigSaysOKForTheSmallestFile() async throws {
        let config = try TemporaryFile(#"{"listeners": ["127.0.0.1:1080"], "users": {"alice": "secret"}}"#, name: "socksd-config")
        let result = try await Self.run(["--check-config", config.path])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == "\(config.path): OK\n")
        #expect(result.errors == [])
    }

    @Test func theShippedExamplePasses() async throws {
        let result = try await Self.run(["--check-config", Self.examplePath])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == "\(Self.examplePath): OK\n")
    }

    /// A broken file: exit 64 and every problem, one a line as `PATH: REASON`, those of the text and those
    /// of what it names (a users file that is not there, a log level), nothing else, nothing listened on.
    @Test func checkConfigReportsEveryProblem() async throws {
        let config = try TemporaryFile("""
            {
              "listeners": ["127.0.0.1:1080", {"address": "127.0.0.1:70000"}],
              "users": {"carol": {"password": "pw", "rules": [{"alow": "intranet.example"}]}},
              "usersFile": "/nonexistent/socksd-users",
              "limits": {"maxSessions": 0},
              "log": {"level": "loud"}
            }
            """, name: "socksd-config")
        let result = try await Self.run(["--check-config", config.path])
        #expect(result.status == 64)
        #expect(result.output == "")
        #expect(result.errors == [
            "listeners[1].address: '127.0.0.1:70000' is not HOST:PORT with a port from 0 to 65535",
            "users.carol.rules[0]: unknown key 'alow' (did you mean 'allow'?)",
            "limits.maxSessions: must be a whole number from 1 to 10000000, not 0",
            "usersFile: cannot read /nonexistent/socksd-users: No such file or directory",
            "log.level: must be debug, info, warning or error, not 'loud'",
        ])
    }

    /// What `SOCKSServer.init` would refuse is caught too, without binding: an open proxy.
    @Test func checkConfigCatchesAnOpenProxy() async throws {
        let config = try TemporaryFile(#"{"listeners": ["0.0.0.0:0"]}"#, name: "socksd-config")
        let result = try await Self.run(["--check-config", config.path])
        #expect(result.status == 64)
        #expect(result.errors.count == 1 && result.errors.first?.hasPrefix("listeners: 0.0.0.0:0 would be an open proxy") == true, "\(result.errors)")
    }

    /// Serving from a broken file: exit 64, each problem as `socksd: PATH: REASON`, no usage (the command
    /// line is fine); a file that cannot be read: exit 1.
    @Test func aBrokenFileStopsStartUp() async throws {
        let config = try TemporaryFile(#"{"listeners": ["127.0.0.1:0"], "timeouts": {"idle": 0}, "users": 5}"#, name: "socksd-config")
        let broken = try await Self.run(["--config", config.path])
        #expect(broken.status == 64)
        #expect(broken.errors == [
            "socksd: users: must be an object of user names and their passwords, not the number 5",
            "socksd: timeouts.idle: must be a number of seconds from 0.001 to 31536000, not 0",
        ])
        let missing = try await Self.run(["--config", "/nonexistent/socksd.json"])
        #expect(missing.status == 1)
        #expect(missing.errors == ["socksd: --config: cannot read /nonexistent/socksd.json: No such file or directory"])
    }

    /// A daemon started with `--config`: a user logs in, reaches what her own rule allows, and is denied a
    /// private destination by the file's rule (reply 02). Then the same file with `--listen` and
    /// `--allow-to *` beside it: the flags replace the file's listeners and rules, and that destination is
    /// reached.
    @Test func aDaemonServesTheFilesUsersAndRulesAndFlagsOverrideThem() async throws {
        let allowed = try LoopbackPeers.startEcho()
        defer { allowed.stop() }
        let denied = try LoopbackPeers.startEcho()
        defer { denied.stop() }
        let config = try TemporaryFile("""
            {"listeners": ["127.0.0.1:0"],
             "users": {"alice": {"password": "s3cret", "rules": [{"allow": "127.0.0.1:\(allowed.address.port)"}]}},
             "rules": [{"deny": "private"}]}
            """, name: "socksd-config")
        let alice = SOCKSCredentials(username: "alice", password: "s3cret")

        let daemon = try DaemonProcess(["--config", config.path])
        let proxy = SocketAddress(ip: .ipv4Loopback, port: try await daemon.port())
        let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(allowed.address), credentials: alice)
        #expect(reply.code == .succeeded)
        try await client.send([7])
        #expect(try await client.receive(exactly: 1) == [7])
        client.close()
        let (refused, refusal) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(denied.address), credentials: alice)
        #expect(refusal.code == .notAllowed)
        refused.close()
        #expect(try await daemon.stop() == 0, "log: \(daemon.log)")
        #expect(daemon.log.contains("authentication required: 1 user(s)"), "log: \(daemon.log)")

        let overridden = try DaemonProcess(["--config", config.path, "--listen", "127.0.0.2:0", "--allow-to", "*"])
        let listening = try #require(try await overridden.listeningAddresses().first)
        #expect(listening.hasPrefix("127.0.0.2:"), "\(listening)")
        let port = try #require(UInt16(listening.split(separator: ":").last ?? ""))
        let (reached, reachedReply) = try await SOCKSTestClient.open(
            SocketAddress(ip: IPAddress("127.0.0.2")!, port: port), to: SOCKSEndpoint(denied.address), credentials: alice)
        #expect(reachedReply.code == .succeeded)
        reached.close()
        #expect(try await overridden.stop() == 0, "log: \(overridden.log)")
    }
}
