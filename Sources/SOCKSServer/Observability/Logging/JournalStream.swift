import Glibc

/// Whether a descriptor is connected to journald, as systemd tells a service it started: `JOURNAL_STREAM`
/// holds `DEVICE:INODE` of the stream it gave as standard output or error. The variable alone is not
/// enough (a child that inherited it may have its standard error redirected elsewhere), so the descriptor's
/// own device and inode must match it.
enum JournalStream {
    /// Whether `descriptor` is the stream `environment["JOURNAL_STREAM"]` names.
    static func matches(descriptor: Int32, environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
