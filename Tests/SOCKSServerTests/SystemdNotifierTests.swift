import AsyncSockets
import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import SOCKSServer

/// `Type=notify`: the datagrams a fake `NOTIFY_SOCKET` receives.
@Suite struct SystemdNotifierTests {
    /// A unix datagram socket standing in for systemd's notification socket.
    final class FakeNotifySocket: Sendable {
        let descriptor: Int32
        /// What `NOTIFY_SOCKET` should say to reach it.
        let environmentValue: String
        private let path: String?

        /// Binds a socket file in the temporary directory, or with `abstract`, a name in the abstract
        /// namespace (`@name` in the variable).
        init(abstract: Bool = false) throws {
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            try #require(descriptor >= 0)
            let name = "socksd-notify-\(UUID().uuidString.prefix(8))"
            let pathBytes: [UInt8]
            if abstract {
                pathBytes = [0] + Array(name.utf8)
                path = nil
                environmentValue = "@" + name
            } else {
                let file = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
                pathBytes = Array(file.utf8)
                path = file
                environmentValue = file
            }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            // The name is short; its bytes go into the sun_path tuple through a buffer valid for this call.
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + pathBytes.count + (abstract ? 0 : 1))
            // bind(2) reads `length` bytes of the sockaddr_un through the generic pointer, during the call only.
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
            }
            try #require(bound == 0, "bind: errno \(errno)")
        }

        /// The next datagram, waiting at most `timeout` for it; `nil` if none came.
        func receive(timeout: Duration = .seconds(5)) -> String? {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeout.components.seconds * 1000)) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count >= 0 else { return nil }
            return String(decoding: buffer[0..<count], as: UTF8.self)
        }

        /// Whether a datagram is waiting.
        var hasPending: Bool {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            return poll(&poller, 1, 0) == 1
        }

        func close() {
            Glibc.close(descriptor)
            if let path { unlink(path) }
        }
    }

    static func monotonicMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }

    @Test(arguments: [false, true]) func theMessagesAreExact(abstract: Bool) throws {
        let socket = try FakeNotifySocket(abstract: abstract)
        defer { socket.close() }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.environmentValue])
        #expect(notifier.isEnabled)

        #expect(notifier.ready())
        #expect(socket.receive() == "READY=1")

        let before = Self.monotonicMicroseconds()
        #expect(notifier.reloading())
        let after = Self.monotonicMicroseconds()
        let reloading = try #require(socket.receive())
        let lines = reloading.split(separator: "\n", omittingEmptySubsequences: false)
        try #require(lines.count == 2, "\(reloading)")
        #expect(lines[0] == "RELOADING=1")
        #expect(lines[1].hasPrefix("MONOTONIC_USEC="))
        let microseconds = try #require(Int64(lines[1].dropFirst("MONOTONIC_USEC=".count)))
        #expect((before...after).contains(microseconds), "CLOCK_MONOTONIC in microseconds")

        #expect(notifier.ready())
        #expect(socket.receive() == "READY=1")
        #expect(notifier.status("3 sessions"))
        #expect(socket.receive() == "STATUS=3 sessions")
        #expect(notifier.status("two\nlines\r\nREADY=1"))
        #expect(socket.receive() == "STATUS=two lines READY=1", "a line break cannot add an assignment")
        #expect(notifier.stopping())
        #expect(socket.receive() == "STOPPING=1")
        #expect(!socket.hasPending)
    }

    @Test func withoutAUsableSocketNothingIsSent() throws {
        for environment in [
            [:], ["NOTIFY_SOCKET": ""], ["NOTIFY_SOCKET": "@"], ["NOTIFY_SOCKET": "relative/notify"],
            ["NOTIFY_SOCKET": "vsock:2:1234"], ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)],
        ] {
            let notifier = SystemdNotifier(environment: environment)
            #expect(!notifier.isEnabled, "\(environment)")
            #expect(!notifier.ready() && !notifier.reloading() && !notifier.stopping() && !notifier.status("x"))
        }
        // A socket that is gone: the call reports it and carries on.
        let gone = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-notify-gone-\(UUID().uuidString)").path
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": gone])
        #expect(notifier.isEnabled)
        #expect(!notifier.ready())
    }

    /// A receiver that never reads: once its queue is full, notifications are dropped, not waited for.
    @Test func aFullSocketNeverBlocksTheCaller() async throws {
        let socket = try FakeNotifySocket()
        defer { socket.close() }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.environmentValue])
        final class Results: Sendable { let sent = Mutex<[Bool]?>(nil) }
        let results = Results()
        // On a thread of its own, so that a blocking send would fail this test instead of hanging it.
        let thread = Thread {
            let sent = (0..<2000).map { notifier.status("session count \($0)") }
            results.sent.withLock { $0 = sent }
        }
        thread.start()
        #expect(await eventually(.seconds(20)) { results.sent.withLock { $0 != nil } }, "2000 notifications to a full socket returned")
        let sent = results.sent.withLock { $0 } ?? []
        #expect(sent.first == true)
        #expect(sent.contains(false), "the full queue refused some")
        #expect(socket.receive() == "STATUS=session count 0")
    }
}
