import AsyncSockets
import Foundation
import Glibc
import Testing
import TestSupport

/// A real HTTP/1.1 origin for the client tests: Python's `http.server` on 127.0.0.1, port 0, run as a child
/// process, with keep-alive. It serves the files of `root` (GET, HEAD), echoes the body of a `POST /echo`,
/// and answers `/git/…` with `git http-backend` (smart HTTP) for the repositories under `root`. With a
/// certificate it speaks HTTPS instead.
///
/// Every request it serves is one line on its standard output, `request METHOD TARGET headers=a,b,…` (the
/// header names in lower case), so a test can see what reached the origin, and what did not (such as
/// `proxy-authorization`).
final class HTTPOrigin: Sendable {
    /// The origin program. Request bodies may come with a Content-Length or chunked (git sends large ones
    /// chunked); responses always have a Content-Length, so a connection stays open for the next request.
    static let script = #"""
        import http.server, os, re, ssl, subprocess, sys

        root = sys.argv[1]

        def read_body(handler):
            if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return body
                    body += handler.rfile.read(size)
                    handler.rfile.readline()
            return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))

        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def __init__(self, *arguments, **keywords):
                super().__init__(*arguments, directory=root, **keywords)

            def log_request(self, code="-", size="-"):
                names = ",".join(sorted(name.lower() for name in self.headers.keys()))
                print("request %s %s headers=%s" % (self.command, self.path, names), flush=True)

            def log_message(self, format, *arguments):
                pass

            def answer(self, status, body, fields=()):
                self.send_response(status)
                for name, value in fields:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/git/"):
                    return self.git(b"")
                return super().do_GET()

            def do_POST(self):
                body = read_body(self)
                if self.path.startswith("/git/"):
                    return self.git(body)
                if self.path == "/echo":
                    return self.answer(200, body, [("Content-Type", "application/octet-stream")])
                self.answer(404, b"no such resource\n", [("Content-Type", "text/plain")])

            def git(self, body):
                path, _, query = self.path.partition("?")
                environment = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1",
                                   PATH_INFO=path[len("/git"):], QUERY_STRING=query, REQUEST_METHOD=self.command,
                                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                                   REMOTE_ADDR=self.client_address[0],
                                   HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""),
                                   HTTP_GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
                output = subprocess.run(["git", "http-backend"], input=body, env=environment, capture_output=True).stdout
                end = re.search(rb"\r?\n\r?\n", output)
                head, payload = (output[:end.start()], output[end.end():]) if end else (output, b"")
                status, fields = 200, []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        fields.append((name, value.strip()))
                self.answer(status, payload, fields)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if len(sys.argv) > 3:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[2], sys.argv[3])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        print("listening %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let process: ChildProcess
    let port: UInt16
    /// The files it serves.
    let root: String
    /// Whether it speaks HTTPS.
    let isTLS: Bool
    private let scriptFile: TemporaryFile
    private let outputPath: String

    /// Starts an origin serving `root`; with `certificate`, over TLS. Waits (up to 20 s) for its port.
    init(root: String, certificate: SelfSignedCertificate? = nil) async throws {
        self.root = root
        isTLS = certificate != nil
        scriptFile = try TemporaryFile(Self.script, name: "socksd-test-origin")
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-test-origin-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let tlsArguments = certificate.map { [$0.certificatePath, $0.keyPath] } ?? []
        process = try ChildProcess("/usr/bin/env", ["python3", scriptFile.path, root] + tlsArguments, outputPath: outputPath)
        let deadline = ContinuousClock.now + .seconds(20)
        var announced: UInt16?
        while ContinuousClock.now < deadline, process.isRunning {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }) {
                announced = UInt16(line.dropFirst("listening ".count))
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let announced else {
            let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            process.signal(SIGKILL)
            Issue.record("the Python origin did not start listening; its output:\n\(output)")
            throw SocketError.timedOut
        }
        port = announced
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: outputPath)
    }

    /// `http://127.0.0.1:PORT/` or `https://…`, followed by `path` (which starts without a slash).
    func url(_ path: String) -> String {
        "\(isTLS ? "https" : "http")://127.0.0.1:\(port)/\(path)"
    }

    /// The requests served so far: `METHOD TARGET headers=…`, in order.
    var requests: [String] {
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.hasPrefix("request ") }.map { String($0.dropFirst("request ".count)) }
    }

    /// Stops the origin (SIGKILL: its shutdown is not under test) and reaps it.
    func stop() {
        process.signal(SIGKILL)
        _ = process.isRunning
    }
}
