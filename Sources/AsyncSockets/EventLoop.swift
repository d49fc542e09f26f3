import CEpoll
import Foundation
import Glibc
import Synchronization

/// One thread that waits in `epoll_wait` and wakes the tasks whose sockets became ready.
///
/// Every socket is registered once, edge-triggered for both directions; the loop does nothing but translate
/// events into `IORegistration.signal` calls, so all socket work runs in the tasks that own the sockets.
public final class EventLoop: Sendable {
    /// The process-wide loop that every async socket uses.
    public static let shared = EventLoop()

    private struct Table {
        /// Indexed by file descriptor; fds are small, dense integers.
        var registrations: [IORegistration?] = []
        var nextGeneration: UInt32 = 1
    }

    private let epollFD: Int32
    private let table = Mutex(Table())

    private init() {
        epollFD = cepoll_create()
        guard epollFD >= 0 else { fatalError("epoll_create1 failed: \(Errno.current)") }
        let thread = Thread { [self] in self.run() }
        thread.name = "socksd-epoll"
        thread.start()
    }

    /// Registers `fd` for edge-triggered readiness in both directions.
    func register(_ fd: Int32) throws(SocketError) -> IORegistration {
        let registration = table.withLock { table in
            let generation = table.nextGeneration
            table.nextGeneration &+= 1
            if table.nextGeneration == 0 { table.nextGeneration = 1 }
            let registration = IORegistration(fd: fd, generation: generation)
            let index = Int(fd)
            if index >= table.registrations.count {
                table.registrations.append(contentsOf: repeatElement(nil, count: index - table.registrations.count + 1))
            }
            table.registrations[index] = registration
            return registration
        }
        let events = CEPOLL_IN | CEPOLL_OUT | CEPOLL_RDHUP | CEPOLL_ET
        if cepoll_add(epollFD, fd, events, registration.token) != 0 {
            let error = Errno.current
            table.withLock { table in
                if table.registrations[Int(fd)] === registration { table.registrations[Int(fd)] = nil }
            }
            throw .failed(operation: "epoll_ctl(ADD)", errno: error)
        }
        return registration
    }

    /// Removes a registration. Must run before the fd is closed, so that a new socket that reuses the fd
    /// number can never be deregistered by mistake.
    func deregister(_ registration: IORegistration) {
        table.withLock { table in
            let index = Int(registration.fd)
            if index < table.registrations.count, table.registrations[index] === registration {
                table.registrations[index] = nil
            }
        }
        _ = cepoll_delete(epollFD, registration.fd)
    }

    private func run() {
        let capacity = 256
        var events = [cepoll_event](repeating: cepoll_event(), count: capacity)
        while true {
            let count = events.withUnsafeMutableBufferPointer {
                cepoll_wait(epollFD, $0.baseAddress, Int32(capacity), -1)
            }
            if count < 0 {
                if Errno.current == .interrupted { continue }
                fatalError("epoll_wait failed: \(Errno.current)")
            }
            for event in events.prefix(Int(count)) {
                let fd = Int(UInt32(truncatingIfNeeded: event.data))
                let registration: IORegistration? = table.withLock { table in
                    guard fd < table.registrations.count, let registration = table.registrations[fd],
                          registration.token == event.data else { return nil }  // stale: the fd was reused
                    return registration
                }
                guard let registration else { continue }
                let failed = event.events & (CEPOLL_ERR | CEPOLL_HUP) != 0
                registration.signal(
                    readable: failed || event.events & (CEPOLL_IN | CEPOLL_RDHUP) != 0,
                    writable: failed || event.events & CEPOLL_OUT != 0)
            }
        }
    }
}
