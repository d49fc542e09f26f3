import AsyncSockets
import Foundation
import Glibc
import Testing
import TestSupport

/// PySocks, a real SOCKS5 client from PyPI, sending UDP through the socksd daemon to an echo server.
@Suite struct PySocksInteropTests {
    /// Sends datagrams of several sizes through the proxy and checks each echo; prints `ok N` on success.
    static let script = """
        import socket, sys
        import socks
        proxy_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        user = sys.argv[4] if len(sys.argv) > 4 else None
        password = sys.argv[5] if len(sys.argv) > 5 else None
        s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
        s.set_proxy(socks.SOCKS5, "127.0.0.1", proxy_port, rdns=True, username=user, password=password)
        s.settimeout(5)
        count = 0
        for size in (0, 1, 512, 1400, 8192, 60000):
            payload = bytes((i * 7 + size) % 256 for i in range(size))
            s.sendto(payload, (host, port))
            data, source = s.recvfrom(65535)
            assert data == payload, "echo of %d bytes differs" % size
            assert source[1] == port, "reply from %r" % (source,)
            count += 1
        print("ok", count)
        """

    static func runPySocks(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/env", ["python3", "-c", script] + arguments, includeErrors: true)
    }

    @Test func pysocksUDPThroughTheDaemon() async throws {
        let echo = try LoopbackPeers.startUDPEcho(on: SocketAddress(ip: .ipv6Any, port: 0), dualStack: true)
        defer { echo.stop() }
        let daemon = try DaemonProcess(["--listen", "127.0.0.1:0"])
        let port = try await daemon.port()
        for host in ["127.0.0.1", "localhost"] {
            let result = try await Self.runPySocks(["\(port)", host, "\(echo.address.port)"])
            #expect(result.status == 0 && result.output == "ok 6\n", "PySocks to \(host): \(result.output) — is PySocks installed (pip install PySocks)? daemon log:\n\(daemon.log)")
        }
        daemon.signal(SIGTERM)
        #expect(try await daemon.exitStatus() == 0)
        #expect(daemon.log.contains("command=udp-associate"))
    }

    @Test func pysocksUDPWithCredentials() async throws {
        let echo = try LoopbackPeers.startUDPEcho()
        defer { echo.stop() }
        let daemon = try DaemonProcess(["--listen", "127.0.0.1:0", "--user", "udpuser:udppass"])
        let port = try await daemon.port()
        let good = try await Self.runPySocks(["\(port)", "127.0.0.1", "\(echo.address.port)", "udpuser", "udppass"])
        #expect(good.status == 0 && good.output == "ok 6\n", "\(good.output)\n\(daemon.log)")
        let bad = try await Self.runPySocks(["\(port)", "127.0.0.1", "\(echo.address.port)", "udpuser", "nope"])
        #expect(bad.status != 0)
        daemon.signal(SIGTERM)
        #expect(try await daemon.exitStatus() == 0)
    }
}
