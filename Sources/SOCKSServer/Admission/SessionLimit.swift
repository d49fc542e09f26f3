import Synchronization

/// Open sessions counted per key against a limit: per user name for `--max-sessions-per-user` (or a
/// user's own limit), or under one key for `--max-udp-associations`. Keys with no open session are not
/// kept.
final class SessionLimit: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    init() {}

    /// Counts a session in for `key`, or returns false when `key` has `limit` open. A session counted in
    /// must be passed to `leave(_:)` exactly once.
    func enter(_ key: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let open = counts[key, default: 0]
            guard open < limit else { return false }
            counts[key] = open + 1
            return true
        }
    }

    func leave(_ key: String) {
        counts.withLock { counts in
            if let open = counts[key], open > 1 {
                counts[key] = open - 1
            } else {
                counts[key] = nil
            }
        }
    }

    /// Sessions open under `key` right now.
    func open(_ key: String) -> Int {
        counts.withLock { $0[key, default: 0] }
    }
}
