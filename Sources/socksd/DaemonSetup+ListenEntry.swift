import AsyncSockets
import SOCKSServer

extension DaemonSetup {
    /// One address the daemon is told to listen on — a listener or a metrics endpoint — with where it was
    /// told (a flag, a JSON path of the file, or the default) and what its name resolved to.
    struct ListenEntry {
        let written: HostAndPort
        /// The flag (`--listen`), the JSON path (`listeners[1].address`), or `the default listener`.
        let path: String
        /// For an entry of the file's `listeners`, its index there (flags and metrics have none): the order
        /// in which clashes are reported.
        var fileIndex: Int?
        /// What `written` resolved to, each address once; empty when it did not resolve.
        var addresses: [SocketAddress] = []

        /// The problems of one address with a fixed port given to two entries: one socket can be only one
        /// listener or endpoint, and binding it once for both would drop one of them without a word (or fail
        /// at start with `EADDRINUSE`). Each such address is reported once, at the later entry, naming the
        /// earlier. Port 0 is never a clash: each entry binds a port of its own.
        ///
        /// Resolved addresses are compared, so two names for one address clash as well as one literal
        /// address written twice.
        static func clashes(_ entries: [ListenEntry]) -> [ConfigurationProblem] {
            var firstClaim: [SocketAddress: ListenEntry] = [:]
            var problems: [ConfigurationProblem] = []
            for entry in entries {
                for address in entry.addresses where address.port != 0 {
                    guard let earlier = firstClaim[address] else {
                        firstClaim[address] = entry
                        continue
                    }
                    problems.append(ConfigurationProblem(path: entry.path, reason: clashReason(entry, address, earlier)))
                }
            }
            return problems
        }

        /// `127.0.0.1:1080 is also listeners[0].address`, with the names when they were not the address.
        private static func clashReason(_ entry: ListenEntry, _ address: SocketAddress, _ earlier: ListenEntry) -> String {
            let what = entry.written.description == address.description ? "\(address)" : "'\(entry.written)' is \(address), which"
            let other = earlier.written.description == address.description ? earlier.path : "\(earlier.path) ('\(earlier.written)')"
            let again = earlier.path == entry.path ? "given twice as \(entry.path)" : "also \(other)"
            return "\(what) is \(again): one address can be one listener or metrics endpoint (port 0 aside); remove one"
        }
    }
}
