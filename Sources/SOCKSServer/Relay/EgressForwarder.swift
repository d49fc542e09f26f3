import SOCKSProtocol

/// Hands a relay's datagrams to its egress: inline when no name lookup is needed, else from a child task
/// (at most `maximumLookups` at once), so one slow name never holds up the datagrams behind it.
struct EgressForwarder: Sendable {
    let egress: any DatagramEgress
    let counters: RelayCounters
    let drop: DropReporter
    let lookups = InFlightLimit(maximum: 32)

    func forward(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, lookupsIn group: inout DiscardingTaskGroup) async {
        counters.touch()
        if egress.sendsWithoutLookup(to: destination) {
            await send(payload, to: destination)
        } else if lookups.begin() {
            let copy = Array(payload)
            group.addTask {
                defer { lookups.end() }
                await send(copy[...], to: destination)
            }
        } else {
            drop("to \(destination): too many name lookups in flight")
        }
    }

    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async {
        do {
            try await egress.send(payload, to: destination)
            counters.countUp(payload.count)
        } catch {
            drop("to \(destination): \(error)")
        }
    }
}
