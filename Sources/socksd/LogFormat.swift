/// How the daemon writes its log lines (`--log-format`, `log.format`): `text`, the default
/// (`2026-11-21T17:47:10Z info message`), or `json`, one JSON object a line.
enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}
