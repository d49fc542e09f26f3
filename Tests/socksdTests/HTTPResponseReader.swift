import AsyncSockets
import Foundation

/// Reads HTTP/1.1 responses from a connection: a head, then as many body bytes as the caller says; what
/// arrives after them stays buffered for the next read.
struct HTTPResponseReader {
    let connection: TCPConnection
    /// Bytes read but not yet consumed.
    private(set) var buffered: [UInt8] = []

    init(_ connection: TCPConnection) {
        self.connection = connection
    }

    /// A response head: its status code and Content-Length (nil when it has none).
    struct Head {
        let status: Int
        let contentLength: Int?
    }

    /// Reads up to the end of the next head and parses its status line and Content-Length.
    mutating func head() async throws -> Head {
        let separator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = buffered.indices.first(where: { buffered[$0...].starts(with: separator) }) {
                let lines = String(decoding: buffered[..<end], as: UTF8.self).split(separator: "\r\n")
                buffered.removeFirst(end + 4)
                let statusLine = lines.first?.split(separator: " ") ?? []
                guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
                    throw SessionScript.Failure("not an HTTP status line: \(lines.first ?? "")")
                }
                let length = lines.dropFirst().lazy.compactMap { line -> Int? in
                    guard line.lowercased().hasPrefix("content-length:") else { return nil }
                    return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                }.first
                return Head(status: status, contentLength: length)
            }
            try await fill()
        }
    }

    /// Exactly `count` bytes.
    mutating func body(count: Int) async throws -> [UInt8] {
        while buffered.count < count { try await fill() }
        defer { buffered.removeFirst(count) }
        return Array(buffered[..<count])
    }

    /// Everything until the peer closes.
    mutating func untilEOF() async throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try await connection.read(into: &buffer)
            if count == 0 { break }
            buffered += buffer[0..<count]
        }
        defer { buffered.removeAll() }
        return buffered
    }

    /// Reads what has arrived; the peer closing first is a failure.
    private mutating func fill() async throws {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try await connection.read(into: &buffer)
        guard count > 0 else { throw SessionScript.Failure("the proxy closed the connection in the middle of a response") }
        buffered += buffer[0..<count]
    }
}
