/// Counts and logs (at debug) the datagrams a relay refuses or cannot deliver.
struct DropReporter: Sendable {
    let counters: RelayCounters
    let logger: SOCKSLogger
    let label: String

    func callAsFunction(_ reason: @autoclosure () -> String) {
        counters.countDrop()
        logger.debug("\(label): dropped datagram: \(reason())")
    }
}
