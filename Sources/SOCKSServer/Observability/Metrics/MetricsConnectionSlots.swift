import AsyncSockets
import Synchronization

/// The connections a `MetricsEndpoint` serves at once, and how far each has got: a fixed number of slots,
/// and when every slot is taken, a new connection takes the slot of one that is waiting on its client.
///
/// Idle connections cost an attacker nothing to hold, so a full table must never shut out the next
/// request: a connection that has sent no complete request gives way first (the oldest of them), then one
/// already answered that lingers until its client closes, and only then one whose answer is being written
/// (the oldest). A new connection is therefore always served, the table never holds more than its
/// capacity, and no eviction waits for a timeout. A connection that gives way is closed, which wakes its
/// task; the task then ends as at any other close.
final class MetricsConnectionSlots: Sendable {
    /// Where one connection's exchange is; it only moves forward, from the first case to the last.
    enum Stage: Sendable, Hashable {
        /// Reading the request head: the client still owes the bytes of a complete request.
        case awaitingRequest
        /// The request was read; the answer is being composed and written.
        case answering
        /// The answer was written and a FIN sent; what the client still sends is read until it closes.
        case lingering

        /// Which connection gives way first when the slots are full: the lowest rank, then the oldest.
        var evictionRank: Int {
            switch self {
            case .awaitingRequest: 0
            case .lingering: 1
            case .answering: 2
            }
        }

        /// Whether an exchange at this stage may move to `next`: forward only.
        func mayAdvance(to next: Stage) -> Bool {
            switch (self, next) {
            case (.awaitingRequest, .answering), (.answering, .lingering): true
            case (.awaitingRequest, _), (.answering, _), (.lingering, _): false
            }
        }
    }

    /// A connection's claim on its slot, from `admit` to `release`.
    struct Ticket: Sendable, Hashable {
        fileprivate let number: UInt64
    }

    private struct Entry {
        let number: UInt64
        let connection: TCPConnection
        var stage: Stage
    }

    private struct Table {
        /// In the order admitted: the first of a rank is the oldest.
        var entries: [Entry] = []
        var nextNumber: UInt64 = 0
    }

    /// How many connections are served at once (at least 1).
    let capacity: Int
    private let table = Mutex(Table())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Connections holding a slot now.
    var count: Int { table.withLock { $0.entries.count } }

    /// How many connections hold a slot at each stage now (for tests of the eviction order).
    func count(at stage: Stage) -> Int {
        table.withLock { table in table.entries.count(where: { $0.stage == stage }) }
    }

    /// Gives `connection` a slot, at `.awaitingRequest`. When every slot is taken, the connection that gives
    /// way loses its slot here and is returned: the caller closes it (outside the table's lock, as a close
    /// resumes whatever waits on the socket).
    func admit(_ connection: TCPConnection) -> (ticket: Ticket, evicted: TCPConnection?) {
        table.withLock { table in
            var evicted: TCPConnection?
            if table.entries.count >= capacity, let victim = Self.victim(in: table.entries) {
                evicted = table.entries.remove(at: victim).connection
            }
            let number = table.nextNumber
            table.nextNumber += 1
            table.entries.append(Entry(number: number, connection: connection, stage: .awaitingRequest))
            return (Ticket(number: number), evicted)
        }
    }

    /// Moves the exchange of `ticket` to `stage`. Nothing happens for a connection that gave way already, or
    /// for a move that is not forward.
    func advance(_ ticket: Ticket, to stage: Stage) {
        table.withLock { table in
            guard let index = table.entries.firstIndex(where: { $0.number == ticket.number }),
                table.entries[index].stage.mayAdvance(to: stage)
            else { return }
            table.entries[index].stage = stage
        }
    }

    /// Frees the slot of `ticket`, when its exchange has ended; nothing happens for one that gave way.
    func release(_ ticket: Ticket) {
        table.withLock { table in
            table.entries.removeAll { $0.number == ticket.number }
        }
    }

    /// The index of the entry that gives way: the lowest rank, the oldest within it.
    private static func victim(in entries: [Entry]) -> Int? {
        var best: Int?
        for index in entries.indices where best.map({ entries[index].stage.evictionRank < entries[$0].stage.evictionRank }) ?? true {
            best = index
        }
        return best
    }
}
