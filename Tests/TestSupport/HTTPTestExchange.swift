import AsyncSockets
import Foundation

/// A raw HTTP/1.1 client for the metrics endpoint's tests (in-process and daemon): it sends exactly the bytes a test gives (valid or
/// not) over a loopback connection and reads what comes back until the endpoint closes.
package struct HTTPTestExchange {
    /// One parsed response, and whatever bytes followed it before the connection closed.
    package struct Response {
        package var status: Int
        package var fields: [(name: String, value: String)]
        package var body: String
        /// Bytes after the body, such as a second response (there should be none).
        package var trailing: [UInt8]

        /// The value of the field `name`, compared without regard to case.
        package func value(of name: String) -> String? {
            fields.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// What went wrong, from the client's side.
    package enum Failure: Error {
        case noResponse([UInt8])
    }

    /// Sends `request`, then reads until the endpoint closes (within `timeout`), and parses the response.
    package static func send(_ request: [UInt8], to address: SocketAddress, timeout: Duration = .seconds(10)) async throws -> Response {
        let connection = try await TCPConnection.connect(to: address)
        defer { connection.close() }
        try await connection.write(request)
        let received = try await readUntilClosed(connection, timeout: timeout)
        guard let response = parse(received) else { throw Failure.noResponse(received) }
        return response
    }

    package static func send(_ request: String, to address: SocketAddress, timeout: Duration = .seconds(10)) async throws -> Response {
        try await send(Array(request.utf8), to: address, timeout: timeout)
    }

    /// `GET path` with a Host field, as curl sends it.
    package static func get(_ path: String, from address: SocketAddress) async throws -> Response {
        try await send("GET \(path) HTTP/1.1\r\nHost: \(address)\r\nUser-Agent: socksd-tests\r\nAccept: */*\r\n\r\n", to: address)
    }

    /// Everything the peer sends until it closes (EOF or reset), within `timeout`.
    package static func readUntilClosed(_ connection: TCPConnection, timeout: Duration) async throws -> [UInt8] {
        try await withDeadline(timeout) {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count: Int
                do {
                    count = try await connection.read(into: &buffer)
                } catch let error as SocketError where error.errno == .connectionReset {
                    return received
                }
                if count == 0 { return received }
                received += buffer[0..<count]
            }
        }
    }

    /// Parses a response with a Content-Length (the endpoint always sends one); nil if the bytes are not one.
    package static func parse(_ bytes: [UInt8]) -> Response? {
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: Array("\r\n\r\n".utf8)) }) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else { return nil }
        let fields = head.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = Response(status: status, fields: fields, body: "", trailing: [])
        let bodyStart = end + 4
        let length = response.value(of: "Content-Length").flatMap { Int($0) } ?? (bytes.count - bodyStart)
        let bodyEnd = min(bytes.count, bodyStart + length)
        response.body = String(decoding: bytes[bodyStart..<bodyEnd], as: UTF8.self)
        response.trailing = Array(bytes[bodyEnd...])
        return response
    }
}
