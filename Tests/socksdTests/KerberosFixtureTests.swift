import Testing
import TestSupport

/// `KerberosFixture`, the realm the GSS-API tests log in to: an MIT KDC on loopback with principals,
/// keytabs and credential caches of its own, and the tests' own RFC 1961 client built against the system's
/// libgssapi_krb5.
@Suite struct KerberosFixtureTests {
    /// The fixture's realm works: alice's credential cache gets her a ticket for the proxy's service.
    @Test func theFixturesRealmIssuesServiceTickets() async throws {
        let kerberos = try await KerberosFixture()
        let kvno = try await runCommand("/usr/bin/kvno", ["rcmd/localhost"], includeErrors: true, environment: kerberos.environment(client: "alice"))
        #expect(kvno.status == 0, "\(kvno.output)")
        #expect(kvno.output.contains("rcmd/localhost@\(KerberosFixture.realm)"), "\(kvno.output)")
    }

    /// The tests' own RFC 1961 client builds, and reports a proxy that is not there as an error.
    @Test func theClientBuildsAndReportsAMissingProxy() async throws {
        let kerberos = try await KerberosFixture()
        let refusing = try LoopbackPeers.refusingPort()
        let run = try await kerberos.runClient(["--proxy", "\(refusing.port)"])
        #expect(run.status == 1 && run.output == "error: cannot connect to the proxy\n", "\(run.output)")
    }
}
