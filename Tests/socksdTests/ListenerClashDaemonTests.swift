import AsyncSockets
import Foundation
import Glibc
import SOCKSProtocol
import Testing
import TestSupport

/// Issue 18, item 4, against the real binary: one address with a fixed port given for two listeners (or a
/// listener and a metrics endpoint), in any mix of flags and the file's `listeners` and `metrics.listen`,
/// is a configuration problem naming both (exit 64, from `--check-config` as from a start, and a failed
/// reload that keeps the old configuration); port 0 given twice is two listeners.
@Suite struct ListenerClashDaemonTests {
    /// An address with a fixed port nothing listens on: the daemon refuses the configuration before binding.
    static let address = "127.0.0.1:1"
    static let proxyFrom = ["--proxy-protocol-from", "127.0.0.1/32"]
    static let proxyEntry = #"{"address": "127.0.0.1:1", "proxyProtocol": true, "trustedProxies": ["127.0.0.1/32"]}"#
    static let reason = "one address can be one listener or metrics endpoint (port 0 aside); remove one"

    /// A case: the file (nil for none; `--check-config` then gets a plain file that the flags override), the
    /// flags, and the one problem expected.
    struct Case: Sendable, CustomTestStringConvertible {
        var file: String?
        var flags: [String]
        var problem: String
        var testDescription: String { problem }
    }

    static let cases: [Case] = [
        Case(flags: ["--listen", address, "--proxy-protocol-listen", address] + proxyFrom, problem: "--proxy-protocol-listen: \(address) is also --listen"),
        Case(flags: ["--listen", address, "--listen", address], problem: "--listen: \(address) is given twice as --listen"),
        Case(
            flags: ["--listen", "127.0.0.1:0", "--proxy-protocol-listen", address, "--metrics-listen", address] + proxyFrom,
            problem: "--metrics-listen: \(address) is also --proxy-protocol-listen"),
        Case(file: #"{"listeners": ["\#(address)", \#(proxyEntry)]}"#, flags: [], problem: "listeners[1].address: \(address) is also listeners[0]"),
        Case(file: #"{"listeners": [\#(proxyEntry), "127.0.0.1:0", "\#(address)"]}"#, flags: [], problem: "listeners[2]: \(address) is also listeners[0].address"),
        Case(file: #"{"listeners": ["\#(address)"]}"#, flags: ["--proxy-protocol-listen", address] + proxyFrom, problem: "listeners[0]: \(address) is also --proxy-protocol-listen"),
        Case(file: #"{"listeners": [\#(proxyEntry)]}"#, flags: ["--listen", address], problem: "listeners[0].address: \(address) is also --listen"),
        Case(file: #"{"listeners": ["\#(address)"], "metrics": {"listen": ["127.0.0.1:0", "\#(address)"]}}"#, flags: [], problem: "metrics.listen[1]: \(address) is also listeners[0]"),
    ]

    /// Starting with the clash: exit 64 and the problem; `--check-config` says the same.
    @Test(arguments: cases)
    func theSameAddressForTwoListenersIsAProblemNamingBoth(_ clash: Case) async throws {
        let file = try TemporaryFile(clash.file ?? #"{"listeners": ["127.0.0.1:0"]}"#, name: "socksd-config")
        let started = try await ConfigurationDaemonTests.run((clash.file == nil ? [] : ["--config", file.path]) + clash.flags)
        #expect(started.status == 64, "\(started.errors)")
        #expect(started.errors.first == "socksd: \(clash.problem): \(Self.reason)", "\(started.errors)")
        let checked = try await ConfigurationDaemonTests.run(["--check-config", file.path] + clash.flags)
        #expect(checked.status == 64, "\(checked.output) \(checked.errors)")
        #expect(checked.errors == ["\(clash.problem): \(Self.reason)"])
    }

    /// Without listeners, the default one (127.0.0.1:1080) counts too.
    @Test func aMetricsEndpointOnTheDefaultListenersAddressIsAProblem() async throws {
        let started = try await ConfigurationDaemonTests.run(["--metrics-listen", "127.0.0.1:1080"])
        #expect(started.status == 64, "\(started.errors)")
        #expect(started.errors.first == "socksd: --metrics-listen: 127.0.0.1:1080 is also the default listener: \(Self.reason)", "\(started.errors)")
    }

    /// Port 0 twice is two sockets: `--listen` twice, and a plain and a PROXY listener.
    @Test func portZeroTwiceIsTwoListeners() async throws {
        let daemon = try DaemonProcess(
            ["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--proxy-protocol-listen", "127.0.0.1:0"] + Self.proxyFrom)
        let lines = try await daemon.listeningAddresses(count: 3)
        #expect(lines.count == 3 && Set(lines).count == 3, "\(lines)")
        #expect(lines.filter { $0.hasSuffix(" (PROXY protocol)") }.count == 1, "\(lines)")
        #expect(try await daemon.stop() == 0)

        let file = try TemporaryFile(#"{"listeners": ["127.0.0.1:0", {"address": "127.0.0.1:0", "proxyProtocol": true, "trustedProxies": ["127.0.0.1/32"]}]}"#, name: "socksd-config")
        let checked = try await ConfigurationDaemonTests.run(["--check-config", file.path])
        #expect(checked.status == 0, "\(checked.errors)")
    }

    /// A reload to a file with the clash fails and changes nothing: the old listener keeps serving.
    @Test func aReloadWithTheSameAddressTwiceFailsAndKeepsTheOldConfiguration() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let config = try TemporaryFile(#"{"listeners": ["127.0.0.1:0"]}"#, name: "socksd-config")
        let daemon = try DaemonProcess(["--config", config.path])
        let proxy = try await daemon.proxyAddress()
        try rewriteConfiguration(config, #"{"listeners": ["127.0.0.1:0", "\#(Self.address)", \#(Self.proxyEntry)]}"#)
        #expect(await daemon.reload())
        #expect(DaemonProcess.reloads(in: daemon.logLines) == (succeeded: 0, failed: 1), "\(daemon.log)")
        #expect(daemon.logLines.contains { $0.hasSuffix("reload: listeners[2].address: \(Self.address) is also listeners[1]: \(Self.reason)") }, "\(daemon.log)")
        let (client, reply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(echo.address))
        #expect(reply.code == .succeeded)
        try await client.send([1])
        #expect(try await client.receive(exactly: 1) == [1])
        client.close()
        #expect(try await daemon.stop() == 0)
    }
}
