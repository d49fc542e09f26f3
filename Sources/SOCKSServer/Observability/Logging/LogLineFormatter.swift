import Foundation

/// Turns one log entry into the bytes of one line, in a `LogFormat`, for a file or standard error, or for
/// journald (a `<N>` syslog priority prefix and no timestamp: journald reads the prefix as the line's
/// priority and stamps the line itself).
///
/// - text: `2026-11-21T17:47:10Z info message`, under journald `<6>info message`.
/// - JSON: `{"time":"2026-11-21T17:47:10Z","level":"info","message":"…"}`, under journald
///   `<6>{"level":"info","message":"…"}`: the prefix (which journald strips) and no `time` member, so the
///   journal's message is still one JSON object.
///
/// A message is escaped (`SOCKSLogger.escapingNonPrintable`) in both formats, whoever queued it.
struct LogLineFormatter: Sendable {
    /// What a line says, before it is formatted.
    enum Content: Sendable {
        case message(String)
        case event(LogEvent)
    }

    let format: LogFormat
    /// Lines start with `<N>` and carry no timestamp: the output is journald.
    let priorityPrefixes: Bool

    /// The syslog priority journald reads from a `<N>` prefix.
    static func priority(of level: SOCKSLogger.Level) -> Int {
        switch level {
        case .debug: 7
        case .info: 6
        case .warning: 4
        case .error: 3
        }
    }

    /// Appends the line for `content`, newline included.
    func append(time: Date, level: SOCKSLogger.Level, content: Content, to bytes: inout [UInt8]) {
        if priorityPrefixes {
            bytes += Array("<\(Self.priority(of: level))>".utf8)
        }
        switch format {
        case .text:
            if !priorityPrefixes {
                bytes += Array("\(time.ISO8601Format()) ".utf8)
            }
            let message = switch content {
            case .message(let message): message
            case .event(let event): event.text
            }
            bytes += Array("\(level) \(SOCKSLogger.escapingNonPrintable(message))".utf8)
        case .json:
            bytes.append(UInt8(ascii: "{"))
            if !priorityPrefixes {
                JSONLogEncoding.appendKey("time", to: &bytes)
                JSONLogEncoding.appendString(time.ISO8601Format(), to: &bytes)
                bytes.append(UInt8(ascii: ","))
            }
            JSONLogEncoding.appendKey("level", to: &bytes)
            JSONLogEncoding.appendString(level.description, to: &bytes)
            switch content {
            case .message(let message):
                bytes.append(UInt8(ascii: ","))
                JSONLogEncoding.appendKey("message", to: &bytes)
                JSONLogEncoding.appendString(SOCKSLogger.escapingNonPrintable(message), to: &bytes)
            case .event(let event):
                bytes.append(UInt8(ascii: ","))
                JSONLogEncoding.appendKey("event", to: &bytes)
                JSONLogEncoding.appendString(event.name, to: &bytes)
                for field in event.fields {
                    bytes.append(UInt8(ascii: ","))
                    JSONLogEncoding.appendKey(field.key, to: &bytes)
                    switch field.value {
                    case .text(let text), .clientText(let text): JSONLogEncoding.appendString(text, to: &bytes)
                    case .clientBytes(let value):
                        let text = String(validating: value, as: UTF8.self) ?? SOCKSLogger.escapingFieldValue(value)
                        JSONLogEncoding.appendString(text, to: &bytes)
                    case .integer(let number): JSONLogEncoding.appendNumber(number, to: &bytes)
                    case .seconds(let seconds): JSONLogEncoding.appendNumber(seconds, to: &bytes)
                    case .absent: bytes += Array("null".utf8)
                    }
                }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "\n"))
    }
}
