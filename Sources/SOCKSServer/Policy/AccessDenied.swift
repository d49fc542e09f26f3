/// A destination the access policy refuses; the client gets reply 02 (connection not allowed by ruleset),
/// a datagram or UoT frame to it is dropped and counted.
struct AccessDenied: Error, Sendable, Hashable, CustomStringConvertible {
    /// The destination as asked for (`example.com:443`) or as resolved (`[::1]:22`), escaped
    /// (`SOCKSLogger.escapingFieldValue`): a client's name can carry spaces and `=`, which must not forge
    /// words of a log line.
    let destination: String
    /// What denied it: `deny-to private (rule 1)`, or `own listening address`.
    let reason: String

    init(destination: String, reason: String) {
        self.destination = SOCKSLogger.escapingFieldValue(destination)
        self.reason = reason
    }

    var description: String { "\(destination) denied by \(reason)" }
}
