import AsyncSockets
import Foundation
import Glibc
import Testing
import TestSupport

/// Real clients against the destination rules of the `socksd` daemon: curl and PySocks must see a denied
/// destination as the SOCKS5 "connection not allowed by ruleset" reply (02), and an allowed one served.
@Suite struct AccessControlInteropTests {
    /// curl's exit code for a proxy handshake error (CURLE_PROXY), which a SOCKS5 failure reply gives.
    static let curlProxyError: Int32 = 97

    /// Fetches `url` with curl through the SOCKS5 proxy on `port` (`socks5h`: the proxy resolves names);
    /// returns curl's exit status and its output, with its error message after the body.
    static func curl(_ url: String, proxyPort: UInt16) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/curl", ["-sS", "--max-time", "10", "-x", "socks5h://127.0.0.1:\(proxyPort)", url], includeErrors: true)
    }

    /// With `--deny-to private`, curl to a loopback web server fails with curl's SOCKS5 error for reply 02
    /// (exit 97; curl 7.88 says `Can't complete SOCKS5 connection to 127.0.0.1. (2)`), by address or by a
    /// name that resolves to loopback, and the access lines name the rule. With `--allow-to
    /// 127.0.0.1:PORT --deny-to private` the same curl gets the page, while another loopback port is still
    /// denied by rule 2: the first match wins.
    @Test func curlIsDeniedAPrivateDestinationUnlessAnEarlierRuleAllowsIt() async throws {
        let web = try LoopbackPeers.startHTTP(body: "allowed through socksd")
        defer { web.stop() }
        let elsewhere = try LoopbackPeers.refusingPort()
        let port = web.address.port

        let (denying, denyingProxy) = try await DaemonProcess.startOnLoopback(["--deny-to", "private"])
        for url in ["http://127.0.0.1:\(port)/", "http://localhost:\(port)/"] {
            let result = try await Self.curl(url, proxyPort: denyingProxy.port)
            #expect(result.status == Self.curlProxyError, "\(url): \(result.output)")
            #expect(result.output.contains("SOCKS5") && result.output.contains("(2)"), "curl names the SOCKS5 reply 02: \(result.output)")
            #expect(!result.output.contains("allowed through socksd"))
        }
        #expect(await denying.waitForLog { lines in
            ["127.0.0.1", "localhost"].allSatisfy { host in
                lines.contains { $0.contains("destination=\(host):\(port)") && $0.hasSuffix("outcome=denied(deny-to private (rule 1))") }
            }
        }, "log: \(denying.log)")

        let (allowing, allowingProxy) = try await DaemonProcess.startOnLoopback(["--allow-to", "127.0.0.1:\(port)", "--deny-to", "private"])
        let allowed = try await Self.curl("http://127.0.0.1:\(port)/", proxyPort: allowingProxy.port)
        #expect(allowed.status == 0, "\(allowed.output)\nlog: \(allowing.log)")
        #expect(allowed.output == "allowed through socksd")
        let other = try await Self.curl("http://127.0.0.1:\(elsewhere.port)/", proxyPort: allowingProxy.port)
        #expect(other.status == Self.curlProxyError, "\(other.output)")
        #expect(await allowing.waitForLog { $0.contains { $0.contains("destination=127.0.0.1:\(elsewhere.port)") && $0.hasSuffix("outcome=denied(deny-to private (rule 2))") } }, "log: \(allowing.log)")

        #expect(try await denying.stop() == 0)
        #expect(try await allowing.stop() == 0)
    }

    /// Opens a PySocks TCP connection through the proxy to each `HOST:PORT` argument and prints one line for
    /// each: `ok TARGET ECHO` after sending `ping` and reading the echo, or `error TARGET CLASS INNER: MESSAGE`
    /// with the exception's class and that of the error it wraps.
    static let script = """
        import socket, sys
        import socks
        proxy_port = int(sys.argv[1])
        for target in sys.argv[2:]:
            host, port = target.rsplit(":", 1)
            s = socks.socksocket(socket.AF_INET, socket.SOCK_STREAM)
            s.set_proxy(socks.SOCKS5, "127.0.0.1", proxy_port, rdns=True)
            s.settimeout(10)
            try:
                s.connect((host, int(port)))
                s.sendall(b"ping")
                echo = b""
                while len(echo) < 4:
                    chunk = s.recv(4 - len(echo))
                    if not chunk:
                        break
                    echo += chunk
                print("ok", target, echo.decode())
            except socks.ProxyError as error:
                inner = getattr(error, "socket_err", None)
                print("error", target, type(error).__name__, type(inner).__name__ + ":", error)
            finally:
                s.close()
        """

    /// PySocks through a daemon with `--allow-to 127.0.0.1:ECHO --deny-to private`: the echo is reached, and
    /// a denied destination (another loopback port, and `localhost`, which resolves to loopback) raises
    /// PySocks's `GeneralProxyError` wrapping a `SOCKS5Error` that reports 0x02.
    @Test func pysocksGetsReply02ForADeniedDestination() async throws {
        let echo = try LoopbackPeers.startEcho()
        defer { echo.stop() }
        let elsewhere = try LoopbackPeers.refusingPort()
        let (daemon, proxy) = try await DaemonProcess.startOnLoopback(["--allow-to", "127.0.0.1:\(echo.address.port)", "--deny-to", "private"])
        let targets = ["127.0.0.1:\(echo.address.port)", "127.0.0.1:\(elsewhere.port)", "localhost:\(elsewhere.port)"]
        let result = try await runCommand("/usr/bin/env", ["python3", "-c", Self.script, "\(proxy.port)"] + targets, includeErrors: true)
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(result.status == 0 && lines.count == 3, "PySocks: \(result.output) — is PySocks installed (pip install PySocks)? daemon log:\n\(daemon.log)")
        if lines.count == 3 {
            #expect(lines[0] == "ok \(targets[0]) ping", "\(lines[0])")
            for (line, target) in zip(lines.dropFirst(), targets.dropFirst()) {
                #expect(line.hasPrefix("error \(target) GeneralProxyError SOCKS5Error:"), "\(line)")
                #expect(line.contains("0x02: Connection not allowed by ruleset"), "\(line)")
            }
        }
        #expect(try await daemon.stop() == 0)
    }
}
