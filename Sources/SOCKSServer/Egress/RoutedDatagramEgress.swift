import AsyncSockets
import SOCKSClient
import SOCKSProtocol
import Synchronization

/// The far side of a UDP relay whose datagrams are routed one by one (issue 21): each datagram leaves by
/// the route of its own destination, through an egress of this association's per route it has used — one
/// UDP socket for everything direct, and a UoT stream or UDP ASSOCIATE per upstream — opened when the
/// first datagram needs it and closed with the association.
///
/// Sending: `EgressForwarder` asks `path(to:)` for each datagram (one router lookup), which names the open
/// egress to send through with the policy of its form (direct or through an upstream), creates the direct
/// socket (no wait), or says which upstreams to open: `open(_:)`, from one of the relay's child tasks, tries
/// them in the route's order, each under the connect deadline; one that cannot be reached, or does not
/// complete its handshake, counts a failure toward its health and the next is tried; its own refusal (a
/// reply code) is the answer. A datagram that meets its route's egress being opened by another is dropped,
/// as a UoT egress drops those that meet its stream being reopened. An association keeps using the upstream
/// it has for a route (the first of the route's healthy upstreams it holds an egress to), so round-robin
/// spreads associations, not the datagrams of one: only opening an egress takes a round-robin turn.
///
/// Receiving: `forEachReply` reads every opened egress in a child task of its own (in the calling task's
/// group, so none outlives the relay) and hands their replies to the one reading task in turn, each reader
/// waiting until its reply has been handled before it reads the next (the payload lies in its buffer). An
/// egress whose replies end (an upstream's association closed) is forgotten and closed: the next datagram
/// of its route opens another.
///
/// Memory: until a second egress is opened the table holds its one entry inline (no array, no dictionary).
final class RoutedDatagramEgress: DatagramEgress {
    /// Which way a datagram leaves, as `path(to:)` answers it.
    enum Path: Sendable {
        /// Through this open egress, checked against `policy` first.
        case open(any DatagramEgress, policy: AccessPolicy)
        /// Through the first of these upstreams whose egress `open(_:)` can open.
        case toOpen([RoutedUpstream], policy: AccessPolicy)
        /// Nowhere: the route's upstreams are all down, its egress is being opened, or the socket cannot be made.
        case unavailable(any Error, policy: AccessPolicy)

        /// The rules in the form of this way out (checked before the datagram is sent, whichever way).
        var policy: AccessPolicy {
            switch self {
            case .open(_, let policy), .toOpen(_, let policy), .unavailable(_, let policy): policy
            }
        }
    }

    /// How the session opens this egress's parts.
    struct Openers: Sendable {
        /// Makes the UDP socket for direct datagrams.
        let direct: @Sendable () throws -> any DatagramEgress
        /// Opens an egress through the upstream under the connect deadline, recording the upstream's health
        /// and connect time; throws when it cannot.
        let upstream: @Sendable (RoutedUpstream) async throws -> any DatagramEgress
    }

    /// One egress of the association: direct (`upstream` nil) or through an upstream.
    private struct Leg {
        let upstream: RoutedUpstream?
        var state: LegState

        func isFor(_ other: RoutedUpstream?) -> Bool { upstream === other }
    }

    private enum LegState {
        /// A sender is opening it (through an upstream).
        case opening
        case open(any DatagramEgress)
    }

    /// The association's egresses: none, one (inline), or several.
    private enum Legs {
        case none
        case one(Leg)
        case several([Leg])

        func state(of upstream: RoutedUpstream?) -> LegState? {
            switch self {
            case .none: nil
            case .one(let leg): leg.isFor(upstream) ? leg.state : nil
            case .several(let legs): legs.first { $0.isFor(upstream) }?.state
            }
        }

        /// Sets the state of `upstream`'s egress, adding it when there is none.
        mutating func set(_ state: LegState, of upstream: RoutedUpstream?) {
            let leg = Leg(upstream: upstream, state: state)
            switch self {
            case .none:
                self = .one(leg)
            case .one(let only) where only.isFor(upstream):
                self = .one(leg)
            case .one(let only):
                self = .several([only, leg])
            case .several(var legs):
                if let index = legs.firstIndex(where: { $0.isFor(upstream) }) { legs[index] = leg } else { legs.append(leg) }
                self = .several(legs)
            }
        }

        mutating func remove(_ upstream: RoutedUpstream?) {
            switch self {
            case .none:
                return
            case .one(let only):
                if only.isFor(upstream) { self = .none }
            case .several(var legs):
                legs.removeAll { $0.isFor(upstream) }
                self = .several(legs)
            }
        }

        var openEgresses: [any DatagramEgress] {
            let legs: [Leg]
            switch self {
            case .none: legs = []
            case .one(let leg): legs = [leg]
            case .several(let all): legs = all
            }
            return legs.compactMap { leg in
                if case .open(let egress) = leg.state { return egress }
                return nil
            }
        }
    }

    /// A reply handed to the reading task, and the continuation of the reader that waits until it is handled.
    private struct Handed {
        let reply: DatagramReply
        let handled: CheckedContinuation<Void, Never>
    }

    private struct State {
        var legs = Legs.none
        var closed = false
        /// The way the association's first egress leaves: what the access line's `via=` says.
        var firstVia: EgressVia?
        /// Egresses opened whose replies no task reads yet.
        var unread: [(upstream: RoutedUpstream?, egress: any DatagramEgress)] = []
        /// Replies waiting for the reading task.
        var handed: [Handed] = []
        /// The reading task, parked while there is nothing to do.
        var parkedReader: CheckedContinuation<Void, Never>?
        /// The reading task has stopped: replies handed from now on are let go at once.
        var readingEnded = false
    }

    private let router: Router
    private let user: String?
    private let directPolicy: AccessPolicy
    private let upstreamPolicy: AccessPolicy
    private let openers: Openers
    private let state = Mutex(State())

    /// - Parameters:
    ///   - router: the session's router (its configuration's routes and upstreams).
    ///   - user: whose routes come first (nil without a login).
    ///   - directPolicy: the rules for datagrams sent directly; `upstreamPolicy` for those through an upstream.
    init(router: Router, user: String?, directPolicy: AccessPolicy, upstreamPolicy: AccessPolicy, openers: Openers) {
        self.router = router
        self.user = user
        self.directPolicy = directPolicy
        self.upstreamPolicy = upstreamPolicy
        self.openers = openers
    }

    /// The way the association's first egress left (`direct`, `default` or an upstream's name), nil while
    /// it has opened none.
    var firstVia: EgressVia? { state.withLock { $0.firstVia } }

    /// Which way a datagram to `destination` leaves: its route's open egress, the direct socket (made now if
    /// need be), the route's upstreams to open, or nowhere (with why).
    func path(to destination: SOCKSEndpoint) -> Path {
        switch router.plan(for: destination, user: user, takingTurn: false) {
        case .direct:
            return directPath()
        case .allDown(let upstreams):
            return .unavailable(RoutedDatagramError.allDown(upstreams.map(\.name)), policy: upstreamPolicy)
        case .upstreams(let upstreams):
            enum Found {
                case open(any DatagramEgress)
                case opening(String)
                case none
                case closed
            }
            let found = state.withLock { state -> Found in
                guard !state.closed else { return .closed }
                var opening: String?
                for upstream in upstreams {
                    switch state.legs.state(of: upstream) {
                    case .open(let egress): return .open(egress)
                    case .opening: opening = opening ?? upstream.name
                    case nil: break
                    }
                }
                return opening.map(Found.opening) ?? .none
            }
            switch found {
            case .open(let egress): return .open(egress, policy: upstreamPolicy)
            case .opening(let name): return .unavailable(RoutedDatagramError.opening(name), policy: upstreamPolicy)
            case .none:
                // A new egress: a round-robin route gives it its turn (the order to try its upstreams in).
                guard case .upstreams(let inTurn) = router.plan(for: destination, user: user) else { return .toOpen(upstreams, policy: upstreamPolicy) }
                return .toOpen(inTurn, policy: upstreamPolicy)
            case .closed: return .unavailable(DatagramEgressError.upstreamClosed, policy: upstreamPolicy)
            }
        }
    }

    private func directPath() -> Path {
        enum Found {
            case open(any DatagramEgress)
            case none
            case closed
        }
        let found = state.withLock { state -> Found in
            guard !state.closed else { return .closed }
            if case .open(let egress) = state.legs.state(of: nil) { return .open(egress) }
            return .none
        }
        switch found {
        case .open(let egress):
            return .open(egress, policy: directPolicy)
        case .closed:
            return .unavailable(DatagramEgressError.upstreamClosed, policy: directPolicy)
        case .none:
            do {
                let egress = try openers.direct()
                // Only the relay's client-side task asks for paths: nothing else can have made one meanwhile.
                guard install(egress, for: nil, via: .direct) else { throw DatagramEgressError.upstreamClosed }
                return .open(egress, policy: directPolicy)
            } catch {
                return .unavailable(error, policy: directPolicy)
            }
        }
    }

    /// Opens an egress through the first of `upstreams` that can carry datagrams, in their order, and
    /// returns it (already taken into the association).
    ///
    /// - Throws: the upstream's own refusal at once (not failed over); else, when none could be opened, the
    ///   last failure; `RoutedDatagramError.opening` when another sender is opening one of them.
    func open(_ upstreams: [RoutedUpstream]) async throws -> any DatagramEgress {
        var failures: [String] = []
        for upstream in upstreams {
            enum Claim {
                case claimed
                case open(any DatagramEgress)
                case opening
                case closed
            }
            let claim = state.withLock { state -> Claim in
                guard !state.closed else { return .closed }
                switch state.legs.state(of: upstream) {
                case .open(let egress): return .open(egress)
                case .opening: return .opening
                case nil:
                    state.legs.set(.opening, of: upstream)
                    return .claimed
                }
            }
            switch claim {
            case .open(let egress): return egress
            case .opening: throw RoutedDatagramError.opening(upstream.name)
            case .closed: throw DatagramEgressError.upstreamClosed
            case .claimed: break
            }
            do {
                let egress = try await openers.upstream(upstream)
                guard install(egress, for: upstream, via: .upstream(upstream.name)) else { throw DatagramEgressError.upstreamClosed }
                return egress
            } catch let refusal as SOCKSClientError {
                forget(upstream)
                if case .requestFailed = refusal { throw refusal }  // the upstream's answer: passed on, not failed over
                failures.append("\(upstream.name): \(refusal)")
            } catch {
                forget(upstream)
                if Task.isCancelled || error is DatagramEgressError { throw error }
                failures.append("\(upstream.name): \(error)")
            }
        }
        throw RoutedDatagramError.unreachable(failures)
    }

    /// Takes an opened egress into the table and hands it to the reading task; false (the egress closed)
    /// when the association has ended meanwhile.
    private func install(_ egress: any DatagramEgress, for upstream: RoutedUpstream?, via: EgressVia) -> Bool {
        let (installed, reader) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (false, nil) }
            state.legs.set(.open(egress), of: upstream)
            state.firstVia = state.firstVia ?? via
            state.unread.append((upstream, egress))
            defer { state.parkedReader = nil }
            return (true, state.parkedReader)
        }
        guard installed else {
            egress.close()
            return false
        }
        reader?.resume()
        return true
    }

    /// Forgets an upstream's egress that could not be opened.
    private func forget(_ upstream: RoutedUpstream) {
        state.withLock { $0.legs.remove(upstream) }
    }

    func sendsWithoutLookup(to destination: SOCKSEndpoint) -> Bool {
        // The forwarder sends through the egress that `path(to:)` names; this is asked of nothing else.
        false
    }

    func send(_ payload: ArraySlice<UInt8>, to destination: SOCKSEndpoint) async throws {
        switch path(to: destination) {
        case .open(let egress, _): try await egress.send(payload, to: destination)
        case .toOpen(let upstreams, _): try await open(upstreams).send(payload, to: destination)
        case .unavailable(let error, _): throw error
        }
    }

    // MARK: - Replies

    /// What the reading task does next.
    private enum Next {
        case read(upstream: RoutedUpstream?, egress: any DatagramEgress)
        case handle(Handed)
        case closed
    }

    func forEachReply(_ handle: (DatagramReply) async throws -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            // Before the group waits for its children: readers waiting for a reply to be handled go on.
            defer { endReading() }
            while true {
                switch try await next() {
                case .read(let upstream, let egress):
                    group.addTask { await self.read(egress, of: upstream) }
                case .handle(let handed):
                    defer { handed.handled.resume() }
                    try await handle(handed.reply)
                case .closed:
                    throw DatagramEgressError.upstreamClosed
                }
            }
        }
    }

    /// The next thing for the reading task: an egress to start reading, a reply, or the end; waits for one.
    private func next() async throws -> Next {
        while true {
            try Task.checkCancellation()
            let next = state.withLock { state -> Next? in
                if !state.unread.isEmpty {
                    let (upstream, egress) = state.unread.removeFirst()
                    return .read(upstream: upstream, egress: egress)
                }
                if !state.handed.isEmpty { return .handle(state.handed.removeFirst()) }
                return state.closed ? .closed : nil
            }
            if let next { return next }
            await parkReader()
        }
    }

    /// Suspends the reading task until there is something for it, the egress closes, or the task is cancelled.
    private func parkReader() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    // Checked under the lock that wakers and the cancellation handler take too: no wake-up lost.
                    if Task.isCancelled || state.closed || !state.unread.isEmpty || !state.handed.isEmpty { return true }
                    state.parkedReader = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let reader = state.withLock { state in
                defer { state.parkedReader = nil }
                return state.parkedReader
            }
            reader?.resume()
        }
    }

    /// Reads one egress's replies and hands each to the reading task, until they end; then forgets the
    /// egress (the next datagram of its route opens another), unless the association is ending.
    private func read(_ egress: any DatagramEgress, of upstream: RoutedUpstream?) async {
        if egress.endsOutsideReceive {
            // An upstream's association ends when its control connection closes, which no reply read shows.
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await egress.waitUntilEnded()
                    egress.close()
                }
                try? await egress.forEachReply { await self.hand($0) }
                group.cancelAll()
            }
        } else {
            try? await egress.forEachReply { await hand($0) }
        }
        guard !Task.isCancelled else { return }
        let forgotten = state.withLock { state -> Bool in
            guard !state.closed, case .open(let current) = state.legs.state(of: upstream), (current as AnyObject) === (egress as AnyObject) else { return false }
            state.legs.remove(upstream)
            return true
        }
        if forgotten { egress.close() }
    }

    /// Hands a reply to the reading task and waits until it has been handled (or reading has ended).
    private func hand(_ reply: DatagramReply) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (accepted, reader) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                guard !state.readingEnded else { return (false, nil) }
                state.handed.append(Handed(reply: reply, handled: continuation))
                defer { state.parkedReader = nil }
                return (true, state.parkedReader)
            }
            if !accepted { continuation.resume() }
            reader?.resume()
        }
    }

    /// The reading task has stopped: lets every waiting reader go on (to find its task cancelled).
    private func endReading() {
        let waiting = state.withLock { state -> [Handed] in
            state.readingEnded = true
            defer { state.handed = [] }
            return state.handed
        }
        for handed in waiting { handed.handled.resume() }
    }

    /// Each part ends by its own means (a UoT stream's EOF, an association's control connection): watched
    /// by the task that reads its replies. The routed egress itself never ends on its own.
    var endsOutsideReceive: Bool { false }

    func waitUntilEnded() async {}

    func close() {
        let (egresses, reader) = state.withLock { state -> ([any DatagramEgress], CheckedContinuation<Void, Never>?) in
            state.closed = true
            defer {
                state.legs = .none
                state.unread = []
                state.parkedReader = nil
            }
            return (state.legs.openEgresses, state.parkedReader)
        }
        for egress in egresses { egress.close() }
        reader?.resume()
    }
}

/// Why a routed datagram could not leave; each is counted as a dropped datagram (`undeliverable`).
enum RoutedDatagramError: Error, CustomStringConvertible {
    /// Every upstream of the datagram's route is down.
    case allDown([String])
    /// Another datagram is opening the egress through this upstream.
    case opening(String)
    /// No upstream of the route could be opened: each one's failure.
    case unreachable([String])

    var description: String {
        switch self {
        case .allDown(let names): "every upstream of the route is down (\(names.joined(separator: ", ")))"
        case .opening(let name): "the egress through upstream \(name) is being opened"
        case .unreachable(let failures): "no upstream of the route could carry it: \(failures.joined(separator: "; "))"
        }
    }
}
