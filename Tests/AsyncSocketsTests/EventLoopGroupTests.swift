import Foundation
import Synchronization
import Testing
@testable import AsyncSockets

/// Issue 20, item 1: loops that an embedder owns, the library's own spin (none unless asked) and its
/// environment (never read).
@Suite struct EventLoopGroupTests {
    @Test func theLibraryDoesNotSpinUnlessAsked() async throws {
        // Nothing in the test process asks (only the daemon sets the shared loops' spin).
        #expect(SharedEventLoops.spinMicroseconds == 0)
        let shared = try EventLoopHold(nil)
        #expect(shared.group.loops.allSatisfy { $0.spinMicroseconds == 0 })
        shared.release()

        let quiet = try EventLoopGroup(loopCount: 1)
        let spinning = try EventLoopGroup(loopCount: 1, spinMicroseconds: 30)
        let capped = try EventLoopGroup(loopCount: 1, spinMicroseconds: 1_000_000)
        #expect(quiet.loops[0].spinMicroseconds == 0)
        #expect(spinning.loops[0].spinMicroseconds == 30)
        #expect(capped.loops[0].spinMicroseconds == 10_000)
        for group in [quiet, spinning, capped] { await group.shutdown() }
    }

    /// The library reads no environment variable: what an embedding process has in its environment changes
    /// nothing (the daemon reads its own and passes it on).
    @Test func theLibraryReadsNoEnvironment() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        var readers: [String] = []
        for module in ["AsyncSockets", "SOCKSProtocol", "SOCKSClient", "SOCKSServer"] {
            let directory = sources.appendingPathComponent(module)
            let files = FileManager.default.enumerator(atPath: directory.path)?.compactMap { $0 as? String } ?? []
            #expect(!files.isEmpty, "no sources found in \(directory.path)")
            for file in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.trimmingCharacters(in: .whitespaces)
                    if code.hasPrefix("//") { continue }
                    if code.contains("getenv(") || code.contains("processInfo.environment") || code.contains("environ") && code.contains("Glibc.environ") {
                        readers.append("\(module)/\(file):\(number + 1): \(code)")
                    }
                }
            }
        }
        #expect(readers.isEmpty, "\(readers)")
    }

    @Test func aStoppingLoopRunsItsPendingTimersAndForwardsLaterJobs() async throws {
        let loops = try EventLoopGroup(loopCount: 1)
        let loop = loops.loops[0]
        let fired = Atomic<Int>(0)
        let timer = loop.schedule(after: .seconds(3600)) { fired.add(1, ordering: .relaxed) }
        #expect(loops.users == 2)  // the owner and the timer
        await loops.shutdown()
        // Nothing would ever fire it on a stopped loop: it ran as the loop stopped.
        #expect(timer.hasFired && fired.load(ordering: .relaxed) == 1)
        #expect(loops.users == 0)
        // A task that still prefers the stopped loop runs anyway (on the global executor).
        let ran = await Task(executorPreference: loop) { true }.value
        #expect(ran)
        // A timer scheduled on it now runs at once rather than never.
        let late = OneShot<Void>()
        _ = loop.schedule(after: .seconds(3600)) { late.resume(with: .success(())) }
        try await withCheckedThrowingContinuation { late.install($0) }
    }
}
