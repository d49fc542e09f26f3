import AsyncSockets
import Testing
import TestSupport
@testable import SOCKSServer

/// Which connection gives way when the metrics endpoint's slots are full: the oldest without a complete
/// request, then one lingering after its answer, then one being answered; never more than the capacity.
@Suite struct MetricsConnectionSlotsTests {
    /// `count` accepted connections (the server's ends) and their clients, over loopback.
    static func connections(_ count: Int) async throws -> (accepted: [TCPConnection], clients: [TCPConnection]) {
        let listener = try TCPListener(bindingTo: SocketAddress(ip: .ipv4Loopback, port: 0))
        defer { listener.close() }
        var accepted: [TCPConnection] = []
        var clients: [TCPConnection] = []
        for _ in 0..<count {
            clients.append(try await TCPConnection.connect(to: listener.localAddress))
            accepted.append(try await listener.accept())
        }
        return (accepted, clients)
    }

    @Test func theOldestWithoutARequestGivesWayThenLingeringThenAnswering() async throws {
        let (accepted, clients) = try await Self.connections(7)
        defer { (accepted + clients).forEach { $0.close() } }
        let slots = MetricsConnectionSlots(capacity: 3)
        let (a, noneForA) = slots.admit(accepted[0])
        let (b, noneForB) = slots.admit(accepted[1])
        let (c, noneForC) = slots.admit(accepted[2])
        #expect(noneForA == nil && noneForB == nil && noneForC == nil)
        slots.advance(a, to: .answering)
        slots.advance(a, to: .lingering)
        slots.advance(b, to: .answering)

        // Full: c is the only one still without a request, so it goes although a and b are older.
        let (d, evictedForD) = slots.admit(accepted[3])
        #expect(evictedForD === accepted[2])
        #expect(slots.count == 3 && slots.count(at: .awaitingRequest) == 1)
        slots.advance(c, to: .answering)  // c gave way already: nothing changes
        #expect(slots.count(at: .answering) == 1)

        // d waits for its request: it goes next, before the lingering a and the answering b.
        let (e, evictedForE) = slots.admit(accepted[4])
        #expect(evictedForE === accepted[3])
        slots.advance(e, to: .answering)
        // Nobody waits for a request: the lingering a gives way.
        let (f, evictedForF) = slots.admit(accepted[5])
        #expect(evictedForF === accepted[0])
        slots.advance(f, to: .answering)
        // All three are being answered: the oldest of them, b.
        let (_, evictedForG) = slots.admit(accepted[6])
        #expect(evictedForG === accepted[1])
        #expect(slots.count == 3)

        // Moves go forward only, and releasing a slot that gave way changes nothing.
        slots.advance(e, to: .awaitingRequest)
        #expect(slots.count(at: .answering) == 2 && slots.count(at: .awaitingRequest) == 1)
        slots.release(b)
        slots.release(d)
        #expect(slots.count == 3)
        slots.release(e)
        slots.release(f)
        #expect(slots.count == 1)
    }
}
