import Synchronization

/// One task's wait on several sockets: the first readiness (or failure) to arrive finishes it, once.
final class ReadinessWait: Sendable {
    private let result = OneShot<Void>()
    private let finished = Atomic<Bool>(false)

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func install(_ continuation: CheckedContinuation<Void, any Error>) {
        result.install(continuation)
    }

    func finish(with outcome: Result<Void, any Error>) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        result.resume(with: outcome)
    }
}
