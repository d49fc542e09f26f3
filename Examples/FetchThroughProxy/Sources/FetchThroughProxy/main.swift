// Fetches http://HOST/PATH through a SOCKS5 proxy (the proxy resolves HOST) and prints the response.
//
//   swift run FetchThroughProxy HOST [PATH] [PROXY_HOST] [PROXY_PORT] [USER PASSWORD]
//   swift run FetchThroughProxy example.com / 127.0.0.1 1080 alice secret
import Foundation
import SOCKSClient

/// The whole program: top-level variables would belong to the main actor, and socket reads take their
/// buffer `inout` across an `await`.
func run() async throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    guard !arguments.isEmpty else {
        print("usage: FetchThroughProxy HOST [PATH] [PROXY_HOST] [PROXY_PORT] [USER PASSWORD]")
        exit(64)
    }
    let host = arguments.removeFirst()
    let path = arguments.isEmpty ? "/" : arguments.removeFirst()
    let proxyHost = arguments.isEmpty ? "127.0.0.1" : arguments.removeFirst()
    let proxyPort = arguments.isEmpty ? 1080 : UInt16(arguments.removeFirst()) ?? 1080
    let credentials = arguments.count >= 2 ? SOCKSCredentials(username: arguments[0], password: arguments[1]) : nil

    let proxy = SOCKSClient(host: proxyHost, port: proxyPort, credentials: credentials)
    let tunnel = try await proxy.connect(to: SOCKSEndpoint(address: .domain(host), port: 80))
    defer { tunnel.connection.close() }
    try await tunnel.connection.write(Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8))

    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    while case let count = try await tunnel.connection.read(into: &buffer), count > 0 {
        response += buffer[..<count]
    }
    print(String(decoding: response, as: UTF8.self))
}

try await run()
