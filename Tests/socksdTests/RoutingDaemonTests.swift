import AsyncSockets
import Foundation
import SOCKSProtocol
import Testing
import TestSupport

/// Routing through the daemon (issue 21): `--upstream NAME=URL`, `--route`, the `upstreams` and `routes`
/// keys and what `--check-config` says of them.
@Suite struct RoutingDaemonTests {
    @Test func checkConfigReportsRoutingProblems() async throws {
        let config = try TemporaryFile("""
            {
              "listeners": ["127.0.0.1:1080"],
              "upstreams": {"direct": {"url": "socks5://127.0.0.1:1081"}, "office": {"url": "socks5://127.0.0.1:1082"}},
              "routes": [{"to": "corp.example", "via": "office"}, {"to": "*", "via": ["exit1", "office"], "strategy": "round-robin"}],
              "users": {"carol": {"password": "pw", "routes": [{"to": "private", "via": "nowhere"}]}}
            }
            """, name: "socksd-config")
        let result = try await ConfigurationDaemonTests.run(["--check-config", config.path])
        #expect(result.status == 64)
        #expect(result.errors == [
            "upstreams.direct: 'direct' is reserved (direct and default cannot name an upstream)",
            "routes[1].via: unknown upstream 'exit1'",
            "users.carol.routes[0].via: unknown upstream 'nowhere'",
        ])
    }

    @Test func checkConfigWarnsOfAnUnusedUpstream() async throws {
        let config = try TemporaryFile("""
            {
              "listeners": ["127.0.0.1:1080"],
              "upstream": {"url": "socks5://127.0.0.1:1083"},
              "upstreams": {"office": {"url": "socks5://127.0.0.1:1082"}, "spare": {"url": "socks5://127.0.0.1:1084", "udp": "associate"}},
              "routes": [{"to": "corp.example", "via": "office"}, {"to": "private", "via": "direct"}, {"to": "*", "via": "default"}],
              "upstreamHealth": {"failures": 2, "probeInterval": 1.5}
            }
            """, name: "socksd-config")
        let result = try await ConfigurationDaemonTests.run(["--check-config", config.path])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.errors == ["warning: upstream 'spare' is used by no route"])
        // A --route replaces the file's routes: now office is unused too.
        let replaced = try await ConfigurationDaemonTests.run(["--check-config", config.path, "--route", "*=spare"])
        #expect(replaced.errors == ["warning: upstream 'office' is used by no route"])
    }

    @Test func flagsRouteThroughNamedUpstreamsWithTheirPasswordsAndFailOver() async throws {
        let target = try LoopbackPeers.startEcho()
        defer { target.stop() }
        let (office, officeAddress) = try await DaemonProcess.startOnLoopback(["--user", "relay:office-s3cret"])
        // Nothing listens here: the first upstream of the route fails, the next one serves.
        let dead = try LoopbackPeers.refusingPort()
        defer { withExtendedLifetime(dead) {} }
        let (downstream, proxy) = try await DaemonProcess.startOnLoopback(
            [
                "--upstream", "dead=socks5://127.0.0.1:\(dead.port)",
                "--upstream", "office-1=socks5://relay@127.0.0.1:\(officeAddress.port)",
                "--route", "127.0.0.1:\(target.address.port)=dead,office-1",
            ],
            environment: ["SOCKSD_UPSTREAM_PASSWORD_OFFICE_1": "office-s3cret"])
        let (client, reply) = try await withDeadline(.seconds(15)) { try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(target.address)) }
        #expect(reply.code == .succeeded, "downstream log: \(downstream.log)")
        if reply.code == .succeeded {
            try await client.send([1, 2, 3])
            #expect(try await client.receive(exactly: 3) == [1, 2, 3])
        }
        client.close()
        #expect(await office.waitForLog { $0.contains { $0.contains("user=relay command=connect destination=127.0.0.1:\(target.address.port)") } }, "office log: \(office.log)")
        #expect(await downstream.waitForLog { $0.contains { $0.contains("destination=127.0.0.1:\(target.address.port) via=office-1 ") } }, "log: \(downstream.log)")
        // Anything else goes direct (no default upstream).
        let (direct, directReply) = try await SOCKSTestClient.open(proxy, to: SOCKSEndpoint(address: .domain("localhost"), port: target.address.port))
        #expect(directReply.code == .succeeded)
        direct.close()
        #expect(await downstream.waitForLog { $0.contains { $0.contains("destination=localhost:\(target.address.port) via=direct ") } }, "log: \(downstream.log)")
        #expect(try await downstream.stop() == 0)
        #expect(try await office.stop() == 0)
        #expect(!downstream.log.contains("s3cret"))
    }
}
