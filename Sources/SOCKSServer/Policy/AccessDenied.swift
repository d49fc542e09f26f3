/// A destination the access policy refuses; the client gets reply 02 (connection not allowed by ruleset),
/// a datagram or UoT frame to it is dropped and counted.
struct AccessDenied: Error, Sendable, Hashable, CustomStringConvertible {
    /// The destination as asked for (`example.com:443`) or as resolved (`[::1]:22`).
    let destination: String
    /// What denied it: `deny-to private`, or `own listening address`.
    let reason: String

    var description: String { "\(destination) denied by \(reason)" }
}
