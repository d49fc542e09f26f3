// Sends one datagram through a SOCKS5 proxy's UDP relay (UDP ASSOCIATE) to HOST:PORT and prints what
// comes back first; with --uot, over one TCP stream instead (sing-box's UDP over TCP, v2).
//
//   swift run UDPRoundTrip HOST PORT [MESSAGE] [--proxy HOST:PORT] [--uot]
//   swift run UDPRoundTrip 127.0.0.1 7 hello --proxy 127.0.0.1:1080
import Foundation
import SOCKSClient

/// The whole program: top-level variables would belong to the main actor, and socket reads take their
/// buffer `inout` across an `await`.
func run() async throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    let useUoT = arguments.contains("--uot")
    arguments.removeAll { $0 == "--uot" }
    var proxyHost = "127.0.0.1"
    var proxyPort: UInt16 = 1080
    if let flag = arguments.firstIndex(of: "--proxy"), flag + 1 < arguments.count {
        let parts = arguments[flag + 1].split(separator: ":")
        proxyHost = parts.dropLast().joined(separator: ":")
        proxyPort = parts.last.flatMap { UInt16($0) } ?? 1080
        arguments.removeSubrange(flag...(flag + 1))
    }
    guard arguments.count >= 2, let port = UInt16(arguments[1]) else {
        print("usage: UDPRoundTrip HOST PORT [MESSAGE] [--proxy HOST:PORT] [--uot]")
        exit(64)
    }
    let destination = SOCKSEndpoint(address: .domain(arguments[0]), port: port)
    let message = Array((arguments.count > 2 ? arguments[2] : "ping").utf8)
    let proxy = SOCKSClient(host: proxyHost, port: proxyPort)

    if useUoT {
        let stream = try await proxy.udpOverTCP()
        defer { stream.close() }
        try await stream.send(message, to: destination)
        for try await frame in stream.frames() {
            print("\(frame.payload.count) bytes from \(frame.endpoint.map { "\($0)" } ?? "?"): \(String(decoding: frame.payload, as: UTF8.self))")
            break
        }
    } else {
        let association = try await proxy.udpAssociate()
        defer { association.close() }
        try await association.send(message, to: destination)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let (payload, source) = try await association.receive(into: &buffer)
        print("\(payload.count) bytes from \(source): \(String(decoding: buffer[payload], as: UTF8.self))")
    }
}

try await run()
