import Synchronization

/// The first error of a relay's directions: later ones are mostly consequences (a closed socket).
final class FirstFailure: Sendable {
    private let error = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) {
        self.error.withLock { if $0 == nil { $0 = error } }
    }

    var first: (any Error)? { error.withLock { $0 } }
}
