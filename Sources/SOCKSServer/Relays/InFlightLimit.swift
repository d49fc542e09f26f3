import Synchronization

/// A count of operations in flight with a ceiling: `begin()` refuses past it.
final class InFlightLimit: Sendable {
    private let count = Atomic<Int>(0)
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    func begin() -> Bool {
        if count.add(1, ordering: .relaxed).newValue <= maximum { return true }
        count.subtract(1, ordering: .relaxed)
        return false
    }

    func end() {
        count.subtract(1, ordering: .relaxed)
    }
}
