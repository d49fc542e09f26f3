import Synchronization

/// Every open session of a server, read through its tracker: for the session summary, and for ending the
/// sessions of users a reload removes. A session is in it from its start to its end, whoever ends it.
final class OpenSessions: Sendable {
    private let sessions = Mutex<[ObjectIdentifier: SOCKSSession]>([:])

    init() {}

    func insert(_ session: SOCKSSession) {
        sessions.withLock { $0[ObjectIdentifier(session)] = session }
    }

    func remove(_ session: SOCKSSession) {
        sessions.withLock { $0[ObjectIdentifier(session)] = nil }
    }

    /// Every open session, oldest first.
    var snapshots: [SessionTracker.Snapshot] {
        sessions.withLock { Array($0.values) }.map { $0.tracker.snapshot }.sorted { $0.age > $1.age }
    }

    /// Ends the open sessions whose user `shouldEnd` picks; returns how many.
    func end(where shouldEnd: (String) -> Bool) -> Int {
        let chosen = sessions.withLock { sessions in sessions.values.filter { $0.tracker.user.map(shouldEnd) ?? false } }
        chosen.forEach { $0.tracker.end() }
        return chosen.count
    }

    var count: Int { sessions.withLock { $0.count } }
}
