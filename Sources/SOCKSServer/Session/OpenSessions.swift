import Synchronization

/// The trackers of every open session of a server: for the session summary, and for ending the sessions
/// of users a reload removes. A session is in it from its start to its end, whoever ends it.
final class OpenSessions: Sendable {
    private let trackers = Mutex<[ObjectIdentifier: SessionTracker]>([:])

    init() {}

    func insert(_ tracker: SessionTracker) {
        trackers.withLock { $0[ObjectIdentifier(tracker)] = tracker }
    }

    func remove(_ tracker: SessionTracker) {
        trackers.withLock { $0[ObjectIdentifier(tracker)] = nil }
    }

    /// Every open session, oldest first.
    var snapshots: [SessionTracker.Snapshot] {
        trackers.withLock { Array($0.values) }.map(\.snapshot).sorted { $0.age > $1.age }
    }

    /// Ends the open sessions whose user `shouldEnd` picks; returns how many.
    func end(where shouldEnd: (String) -> Bool) -> Int {
        let chosen = trackers.withLock { trackers in trackers.values.filter { $0.user.map(shouldEnd) ?? false } }
        chosen.forEach { $0.end() }
        return chosen.count
    }

    var count: Int { trackers.withLock { $0.count } }
}
