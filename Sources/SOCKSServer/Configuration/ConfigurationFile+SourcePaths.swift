import AsyncSockets

extension ConfigurationFile {
    /// Where the file wrote the values that a reader of the document may have to point back to after the
    /// reading: once the command line's flags are laid over the file and its names resolved, one address
    /// may turn out to be two listeners, or SOCKS4 to sit beside users; the problem then names the JSON
    /// path of what was written.
    ///
    /// A note about the text, not part of what the document says: two documents that differ only here are
    /// equal. (`json` writes plain listeners before PROXY ones, so a document read back from it has the
    /// same listeners at other indices.)
    package struct SourcePaths: Sendable, Hashable {
        /// Where one value was written: its JSON path (`listeners[2].address`, `metrics.listen[0]`) and the
        /// index of its entry in the array that holds it (`listeners`, `metrics.listen`), for putting
        /// entries of two lists back in the file's order.
        package struct Location: Sendable, Hashable {
            package let path: String
            package let index: Int
        }

        /// The address of each of `listeners`, in the same order.
        package internal(set) var listeners: [Location] = []
        /// The address of each of `proxyProtocolListeners`, in the same order.
        package internal(set) var proxyProtocolListeners: [Location] = []
        /// Each address of `metrics.listen`, in the same order.
        package internal(set) var metricsListen: [Location] = []
        /// The `protocols` of each listener that has its own, by address, as `listenerProtocols` holds them.
        package internal(set) var listenerProtocols: [HostAndPort: Location] = [:]

        /// Always true: where a document's values were written is not part of its value.
        package static func == (lhs: Self, rhs: Self) -> Bool { true }

        /// Adds nothing, as `==` ignores every field.
        package func hash(into hasher: inout Hasher) {}
    }
}
