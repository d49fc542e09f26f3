import Synchronization

/// The first outcome that several tasks of one relay report: later ones are mostly consequences of it (a
/// socket the first closed), so the first is what the relay says.
final class FirstOutcome<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)

    /// Keeps `outcome` unless one was recorded before.
    func record(_ outcome: Value) {
        value.withLock { if $0 == nil { $0 = outcome } }
    }

    var first: Value? { value.withLock { $0 } }
}
