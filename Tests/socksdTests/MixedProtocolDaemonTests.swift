import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport

/// `--protocols` and the `protocols` key against the real binary: curl over SOCKS4, SOCKS4a and SOCKS5 on
/// one port; every wrong list refused with exit 64 and its flag or JSON path; SOCKS4 beside users refused;
/// a reload that adds SOCKS4 to a listener. Every daemon listens on loopback only.
@Suite struct MixedProtocolDaemonTests {
    /// curl through `proxy` (`socks4://…`, `socks4a://…`, `socks5h://…`); its exit status and output.
    static func curl(_ url: String, proxy: String) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/curl", ["-sS", "--max-time", "10", "--proxy", proxy, url], includeErrors: true)
    }

    /// A SOCKS4 CONNECT by hand: the reply's CD byte, or nil when the daemon closed without one.
    static func socks4Reply(_ proxy: SocketAddress, to destination: SocketAddress) async throws -> UInt8? {
        let client = try await SOCKSTestClient.connect(to: proxy)
        defer { client.close() }
        try await client.send(SOCKS4Request(command: .connect, destination: SOCKSEndpoint(destination)).encoded())
        return try? await client.receive(exactly: 8)[1]
    }

    @Test func curlSpeaksSOCKS4SOCKS4aAndSOCKS5ToOnePort() async throws {
        let web = try LoopbackPeers.startHTTP(body: "one port for all")
        defer { web.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--protocols", "socks5,socks4,http"])
        for scheme in ["socks4", "socks4a", "socks5h"] {
            let result = try await Self.curl("http://localhost:\(web.address.port)/", proxy: "\(scheme)://127.0.0.1:\(proxy.port)")
            #expect(result.status == 0 && result.output.contains("one port for all"), "\(scheme): \(result.output)")
        }
        #expect(await daemon.waitForLog { lines in
            lines.filter { $0.contains("protocol=socks4 ") && $0.hasSuffix("outcome=succeeded") }.count == 2
                && lines.contains { $0.contains("protocol=socks5 ") && $0.hasSuffix("outcome=succeeded") }
        }, "\(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }

    /// The default (socks5,http) closes a SOCKS4 client; curl sees no reply.
    @Test func socks4IsOptIn() async throws {
        let web = try LoopbackPeers.startHTTP(body: "not for socks4")
        defer { web.stop() }
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback()
        let result = try await Self.curl("http://127.0.0.1:\(web.address.port)/", proxy: "socks4://127.0.0.1:\(proxy.port)")
        #expect(result.status != 0 && !result.output.contains("not for socks4"))
        #expect(await daemon.waitForLog { $0.contains { $0.contains("protocol=socks4 ") && $0.hasSuffix("outcome=unsupported-protocol(socks4)") } })
        #expect(try await daemon.stop() == 0)
    }

    @Test(arguments: [
        ("socks5,ftp", "--protocols: unknown protocol 'ftp': the protocols are socks5, socks4 and http"),
        ("", "--protocols: names no protocol: list at least one of socks5, socks4, http"),
        ("socks5,socks5", "--protocols: names 'socks5' more than once"),
        ("socks5,,http", "--protocols: 'socks5,,http' has an empty name: write the names separated by commas, such as socks5,http"),
    ])
    func aWrongProtocolListIsAUsageError(list: String, message: String) async throws {
        let result = try await ConfigurationDaemonTests.run(["--listen", "127.0.0.1:0", "--protocols", list])
        #expect(result.status == 64)
        #expect(result.errors.first == "socksd: \(message)", "\(result.errors)")
    }

    @Test func socks4BesideUsersIsRefusedAtStart() async throws {
        let result = try await ConfigurationDaemonTests.run(["--listen", "127.0.0.1:0", "--user", "alice:secret", "--protocols", "socks5,socks4"])
        #expect(result.status == 64)
        #expect(result.errors.contains { $0.hasPrefix("socksd: --protocols: SOCKS4 carries no password") }, "\(result.errors)")
    }

    /// Each wrong `protocols` value in a file, with its JSON path; SOCKS4 beside users, top level and per
    /// listener.
    @Test func checkConfigReportsProtocolProblemsWithTheirPaths() async throws {
        let config = try TemporaryFile("""
            {
              "listeners": ["127.0.0.1:1080", {"address": "127.0.0.1:1081", "protocols": ["socks4", "socks4"]},
                            {"address": "127.0.0.1:1082", "protocols": "socks4,http"}],
              "protocols": ["socks5", "gopher"],
              "users": {"alice": "secret"}
            }
            """, name: "socksd-config")
        let result = try await ConfigurationDaemonTests.run(["--check-config", config.path])
        #expect(result.status == 64)
        #expect(result.errors == [
            "listeners[1].protocols: names 'socks4' more than once",
            "protocols: unknown protocol 'gopher': the protocols are socks5, socks4 and http",
            "listeners[2].protocols: SOCKS4 carries no password, so it cannot be offered while users must log in: remove socks4, or the users",
        ], "\(result.errors)")

        let empty = try TemporaryFile(#"{"listeners": ["127.0.0.1:1080"], "protocols": [], "users": {"alice": "secret"}}"#, name: "socksd-config")
        let emptyResult = try await ConfigurationDaemonTests.run(["--check-config", empty.path])
        #expect(emptyResult.status == 64)
        #expect(emptyResult.errors == ["protocols: names no protocol: list at least one of socks5, socks4, http"])

        let good = try TemporaryFile(#"{"listeners": [{"address": "127.0.0.1:1080", "protocols": ["socks4"]}], "protocols": "socks5, http"}"#, name: "socksd-config")
        let goodResult = try await ConfigurationDaemonTests.run(["--check-config", good.path])
        #expect(goodResult.status == 0, "\(goodResult.errors)")
    }

    /// SOCKS4 beside users is reported at the path of each `protocols` value that offers it: the top-level
    /// `protocols`, each `listeners[N].protocols` (PROXY listeners among them), or `--protocols`, which
    /// replaces them all.
    @Test func socks4BesideUsersNamesEachProtocolsValueThatOffersIt() async throws {
        let reason = "SOCKS4 carries no password, so it cannot be offered while users must log in: remove socks4, or the users"
        let config = try TemporaryFile("""
            {
              "listeners": ["127.0.0.1:1080", {"address": "127.0.0.1:1081", "protocols": ["socks5"]},
                            {"address": "127.0.0.1:1082", "protocols": ["socks5", "socks4"]},
                            {"address": "127.0.0.1:1083", "proxyProtocol": true, "trustedProxies": ["127.0.0.1/32"], "protocols": "socks4"}],
              "protocols": ["socks5", "socks4"]
            }
            """, name: "socksd-config")
        let fromFile = try await ConfigurationDaemonTests.run(["--check-config", config.path, "--user", "alice:secret"])
        #expect(fromFile.status == 64)
        #expect(fromFile.errors.filter { !$0.hasPrefix("warning: ") } == [
            "protocols: \(reason)", "listeners[2].protocols: \(reason)", "listeners[3].protocols: \(reason)",
        ], "\(fromFile.errors)")
        let fromFlag = try await ConfigurationDaemonTests.run(["--check-config", config.path, "--user", "alice:secret", "--protocols", "socks4,http"])
        #expect(fromFlag.status == 64)
        #expect(fromFlag.errors.filter { !$0.hasPrefix("warning: ") } == ["--protocols: \(reason)"], "\(fromFlag.errors)")
    }

    /// A file whose listener takes socks5 only; SIGHUP after adding socks4 to it: the same socket now
    /// serves SOCKS4. A reload that would put SOCKS4 beside users fails and changes nothing.
    @Test func aReloadChangesAListenersProtocols() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let config = try TemporaryFile(#"{"listeners": [{"address": "127.0.0.1:0", "protocols": ["socks5"]}]}"#, name: "socksd-config")
        let daemon = try DaemonProcess(["--config", config.path])
        let proxy = SocketAddress(ip: .ipv4Loopback, port: try await daemon.port())
        #expect(try await Self.socks4Reply(proxy, to: echo.address) == nil)

        try #"{"listeners": [{"address": "127.0.0.1:0", "protocols": ["socks5", "socks4"]}]}"#.write(toFile: config.path, atomically: true, encoding: .utf8)
        #expect(await daemon.waitUntilCatching(SIGHUP))
        daemon.signal(SIGHUP)
        #expect(await daemon.waitForLog { $0.contains { $0.contains("configuration reloaded") } }, "\(daemon.log)")
        #expect(try await Self.socks4Reply(proxy, to: echo.address) == 0x5A)

        try #"{"listeners": [{"address": "127.0.0.1:0", "protocols": ["socks5", "socks4"]}], "users": {"alice": "secret"}}"#
            .write(toFile: config.path, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await daemon.waitForLog { $0.contains { $0.contains("reload failed") } }, "\(daemon.log)")
        #expect(daemon.logLines.contains { $0.contains("reload: listeners[0].protocols: SOCKS4 carries no password") }, "\(daemon.log)")
        #expect(try await Self.socks4Reply(proxy, to: echo.address) == 0x5A)
        #expect(try await daemon.stop() == 0)
    }
}
