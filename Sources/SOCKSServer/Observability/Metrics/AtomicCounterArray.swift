import Synchronization

/// A fixed number of counters, each updated with one relaxed atomic add: the storage of a labelled metric
/// whose label values are a fixed set (a counter per value, or per combination of values).
///
/// `Atomic` is not copyable, so an array cannot hold it directly: each counter lives in a small object of
/// its own, allocated once with the registry. An update costs a bounds check, a pointer load and the add;
/// no lock is ever taken.
final class AtomicCounterArray: Sendable {
    private final class Slot: Sendable {
        let value = Atomic<Int>(0)
    }

    private let slots: [Slot]

    init(count: Int) {
        slots = (0..<count).map { _ in Slot() }
    }

    var count: Int { slots.count }

    func add(_ amount: Int, at index: Int) {
        slots[index].value.add(amount, ordering: .relaxed)
    }

    func subtract(_ amount: Int, at index: Int) {
        slots[index].value.subtract(amount, ordering: .relaxed)
    }

    subscript(index: Int) -> Int {
        slots[index].value.load(ordering: .relaxed)
    }
}
