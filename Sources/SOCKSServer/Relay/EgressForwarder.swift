import SOCKSProtocol

/// Hands a relay's datagrams to its egress: inline when no name lookup is needed, else from a child task
/// (at most `maximumLookups` at once), so one slow name never holds up the datagrams behind it. Every
/// datagram's destination is checked against the access policy first (and a direct egress checks each
/// resolved address again, through its resolver); a denied one is dropped and counted, the relay goes on.
struct EgressForwarder: Sendable {
    let egress: any DatagramEgress
    let counters: RelayCounters
    let policy: AccessPolicy
    let metrics: ServerMetrics
    /// The user's bandwidth cap: a datagram either direction that does not fit is dropped.
    let bandwidth: BandwidthLimiter?
    let drop: DropReporter
    let lookups = InFlightLimit(maximum: 32)

    func forward(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint, lookupsIn group: inout DiscardingTaskGroup) async {
        counters.touch()
        do {
            try policy.check(destination)
        } catch {
            metrics.deniedDatagram()
            drop(.denied, "\(error)")
            return
        }
        if let bandwidth, !bandwidth.admitDatagram(payload.count) {
            drop(.bandwidth, "to \(destination): over the user's bandwidth cap")
            return
        }
        if egress.sendsWithoutLookup(to: destination) {
            await send(payload, to: destination)
        } else if lookups.begin() {
            let copy = Array(payload)
            group.addTask {
                defer { lookups.end() }
                await send(copy[...], to: destination)
            }
        } else {
            drop(.lookupLimit, "to \(destination): too many name lookups in flight")
        }
    }

    private func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async {
        do {
            try await egress.send(payload, to: destination)
            counters.countDatagramUp(payload.count)
        } catch {
            let denied = error is AccessDenied
            if denied { metrics.deniedDatagram() }
            drop(denied ? .denied : .undeliverable, "to \(destination): \(error)")
        }
    }
}
