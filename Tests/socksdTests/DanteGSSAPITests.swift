import AsyncSockets
import Foundation
import Testing
import TestSupport

/// Dante's client (`socksify`, built with GSS-API by `Scripts/dante-gssapi`) through socksd, in a realm of
/// the test's own (`KerberosFixture`): a Python program, socksified, moves bytes through CONNECT to an echo
/// peer at each `gssapi.enctype`; they must come back intact, and the access line must name the principal
/// and the protection level. Also what Dante does, unlike RFC 1961, when granted more than it asked for.
@Suite(.enabled(if: DanteGSSAPIClient.shouldRun, Comment(rawValue: DanteGSSAPIClient.missingMessage)))
struct DanteGSSAPITests {
    /// Connects to 127.0.0.1:`argv[1]`, sends `argv[2]` bytes in 4096-byte turns, reads each turn back from
    /// the echo peer, and prints `echo ok N` when every byte came back the same.
    static let echoProgram = """
        import socket, sys
        port, total = int(sys.argv[1]), int(sys.argv[2])
        data = bytes((i * 7 + i // 251) % 256 for i in range(total))
        s = socket.create_connection(("127.0.0.1", port))
        for start in range(0, total, 4096):
            piece = data[start:start + 4096]
            s.sendall(piece)
            back = b""
            while len(back) < len(piece):
                more = s.recv(len(piece) - len(back))
                if not more:
                    sys.exit("closed after %d bytes" % (start + len(back)))
                back += more
            if back != piece:
                sys.exit("bytes differ at %d" % start)
        s.close()
        print("echo ok", total)
        """

    /// Each `gssapi.enctype`: Dante asks for that level alone (RFC 1961 §4.3, the level wrapped) and socksd
    /// grants it. At integrity and confidentiality every byte both ways travels in encapsulated messages;
    /// `clear` is Dante's level 0 (not in RFC 1961, which socksd grants under `--gssapi-protection none`),
    /// after which the bytes travel plain.
    @Test(arguments: [("clear", "none"), ("integrity", "integrity"), ("confidentiality", "confidentiality")])
    func socksifyMovesDataAtEachLevel(enctype: String, protection: String) async throws {
        let kerberos = try await KerberosFixture()
        let (daemon, address) = try await GSSAPIDaemonTests.startDaemon(kerberos)
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let run = try await DanteGSSAPIClient.run(
            ["/usr/bin/python3", "-c", Self.echoProgram, "\(echo.address.port)", "100000"],
            configuration: DanteGSSAPIClient.configuration(proxyPort: address.port, enctype: enctype), kerberos: kerberos)
        #expect(run.status == 0 && run.output.contains("echo ok 100000"), "\(run.output)\n\(daemon.log)")
        // Dante's own log says which level it went on with.
        #expect(run.output.contains("using gssapi \(enctype) protection"), "\(run.output)")
        #expect(await daemon.waitForLog { lines in
            lines.contains {
                $0.contains("protocol=socks5 user=\(GSSAPIDaemonTests.alice) command=connect") && $0.contains("up=100000 down=100000 protection=\(protection)")
            }
        }, "\(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }

    /// Granted more than it asked for (`--gssapi-protection confidentiality`, Dante at `gssapi.enctype
    /// integrity`), Dante neither gives up nor takes the granted level: it goes on at the level it asked for
    /// (lib/clientprotocol.c keeps its offer when the server's choice is not among its own), so its request,
    /// the first encapsulated message, has no confidentiality. socksd holds it to the level it granted, as
    /// RFC 1961 §5 does: the login fails there, the connection is closed, and nothing reaches the peer.
    @Test func danteGrantedMoreThanItAskedForGoesOnAtItsOwnLevelAndIsCutOff() async throws {
        let kerberos = try await KerberosFixture()
        let (daemon, address) = try await GSSAPIDaemonTests.startDaemon(kerberos, ["--gssapi-protection", "confidentiality"])
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let run = try await DanteGSSAPIClient.run(
            ["/usr/bin/python3", "-c", Self.echoProgram, "\(echo.address.port)", "1000"],
            configuration: DanteGSSAPIClient.configuration(proxyPort: address.port, enctype: "integrity"), kerberos: kerberos)
        #expect(run.status != 0 && !run.output.contains("echo ok"), "\(run.output)\n\(daemon.log)")
        #expect(run.output.contains("using gssapi integrity protection"), "\(run.output)")
        #expect(await daemon.waitForLog { lines in
            lines.contains { $0.contains("protocol=socks5 user=- command=-") && $0.contains("up=0 down=0") && $0.hasSuffix("outcome=auth-failed") }
        }, "\(daemon.log)")
        #expect(daemon.log.contains("handshake failed: GSS-API login failed: a message without confidentiality at level 2"), "\(daemon.log)")
        #expect(try await daemon.stop() == 0)
    }
}
