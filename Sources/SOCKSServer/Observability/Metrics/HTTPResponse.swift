import Glibc
import SOCKSProtocol

/// One response of the metrics endpoint: a status, a few header fields and a small body, always with
/// `Connection: close` (the endpoint answers one request per connection).
struct HTTPResponse: Sendable {
    var status: Int
    var contentType: String
    var extraFields: [(String, String)]
    var body: [UInt8]

    init(status: Int, body: String, contentType: String = "text/plain; charset=utf-8", extraFields: [(String, String)] = []) {
        self.status = status
        self.body = Array(body.utf8)
        self.contentType = contentType
        self.extraFields = extraFields
    }

    /// The answer to a head that can never be valid.
    init(_ error: HTTPRequestHead.ParseError) {
        switch error {
        case .malformed: self.init(status: 400, body: "bad request\n")
        case .headTooLarge, .tooManyFields: self.init(status: 431, body: "request header fields too large\n")
        case .unsupportedVersion: self.init(status: 505, body: "HTTP version not supported\n")
        }
    }

    /// The bytes on the wire; `includingBody: false` for HEAD, whose answer says the body's length but
    /// carries none (RFC 9110 §9.3.2).
    func encoded(includingBody: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in extraFields { head += "\(name): \(value)\r\n" }
        head += "Date: \(Self.imfFixdate())\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + (includingBody ? body : [])
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Unknown"
        }
    }

    /// Now as an HTTP date (RFC 9110 §5.6.7), such as `Sun, 06 Nov 1994 08:49:37 GMT`: a server with a
    /// clock sends one with every response.
    static func imfFixdate(_ seconds: time_t = time(nil)) -> String {
        var now = seconds
        var parts = tm()
        guard gmtime_r(&now, &parts) != nil else { return "Thu, 01 Jan 1970 00:00:00 GMT" }
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
