import Foundation
import Glibc
import Testing

/// Issue 20, item 1: the library's event loops have an owner. `loop-lifecycle-probe`, a process of its own
/// (the test runner's threads and the other tests' loops would hide what is counted), runs a server and a
/// client on the shared loops, stops both, and waits to be back at its starting thread count with no loop
/// thread left; then does the same on an `EventLoopGroup` of its own, whose threads must be gone when
/// `shutdown()` returns, without the shared loops ever starting.
@Suite struct LoopLifecycleTests {
    @Test func aProcessIsBackToItsThreadsAfterItsServerAndClientStop() async throws {
        let probe = URL(fileURLWithPath: DaemonProcess.binaryPath).deletingLastPathComponent().appendingPathComponent("loop-lifecycle-probe").path
        // The probe counts threads, not memory, and it exits from inside its async main task, whose frames
        // LeakSanitizer cannot reach (the running task is known only to the thread's dynamic TLS): under
        // AddressSanitizer it would report them. Leak checks stay on for every other process.
        let environment = ProcessInfo.processInfo.environment
        let noLeakCheck = ["ASAN_OPTIONS": (environment["ASAN_OPTIONS"].map { $0 + ":" } ?? "") + "detect_leaks=0"]
        let (status, output) = try await runCommand(probe, [], includeErrors: true, timeout: .seconds(120), environment: noLeakCheck)
        #expect(status == 0, "\(output)")
        #expect(output.contains("shared loops: back to") && output.contains("embedder's group: joined"), "\(output)")
    }
}

/// Issue 20, item 2: a resource failure is a thrown error, not a trap. Under a descriptor limit that leaves
/// libdispatch its own descriptors but none for an event loop's epoll instance or eventfd, `SOCKSServer`
/// throws and the daemon says so and exits 1 (a `fatalError` killed it with SIGILL before). Where that
/// window lies depends on what the runtime opens first, so the limits are tried in turn, up to the first
/// that gives the message (or one that is enough to listen).
@Suite struct EventLoopResourceFailureTests {
    @Test func aDaemonWithNoDescriptorForItsLoopsExitsWithAMessage() async throws {
        var outcomes: [String] = []
        for limit in 4...32 {
            let daemon = try DaemonProcess(["--listen", "127.0.0.1:0"], fileLimit: limit)
            let deadline = ContinuousClock.now + .seconds(20)
            var listening = false
            while daemon.process.isRunning && ContinuousClock.now < deadline {
                if daemon.log.contains("listening on ") { listening = true; break }
                try await Task.sleep(for: .milliseconds(20))
            }
            if listening || daemon.process.isRunning { daemon.signal(SIGKILL) }
            let status = try await daemon.exitStatus()
            let log = daemon.log
            outcomes.append("limit \(limit): status \(status): \(log.prefix(200))")
            if log.contains("socksd: cannot start the event loops: ") {
                #expect(status == 1, "\(outcomes)")
                #expect(log.contains("Too many open files"), "\(log)")
                return
            }
            if listening { break }
        }
        Issue.record("no descriptor limit gave the event loops' error: \(outcomes)")
    }
}
