/// Counts and logs (at debug) the datagrams a relay refuses or cannot deliver.
struct DropReporter: Sendable {
    let counters: RelayCounters
    let logger: SOCKSLogger
    let label: String

    func callAsFunction(_ reason: DatagramDropReason, _ detail: @autoclosure () -> String) {
        counters.countDrop(reason)
        logger.debug("\(label): dropped datagram: \(detail())")
    }
}
