/// How a `LogWriter` writes its lines.
package enum LogFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `2026-11-21T17:47:10Z info message`: the timestamp, the level, then the message; an event (the access
    /// line) is its name followed by `key=value` fields.
    case text
    /// One JSON object per line, pure ASCII: `{"time":"2026-11-21T17:47:10Z","level":"info","message":"…"}`;
    /// an event has `"event":"session"` and one member per field instead of `message`, numbers as numbers
    /// and a missing value as `null`.
    case json

    /// `text` or `json`, as `--log-format` spells it.
    package var description: String { rawValue }
}
