// A process of its own for `LoopLifecycleTests`: the test runner's threads (and the other tests' loops)
// would hide what is measured here. With one import each, as an embedder writes it.
import Foundation
import SOCKSClient
import SOCKSServer

/// The names of this process's threads now (`/proc/self/task/*/comm`).
func threadNames() -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { task in
        (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }.sorted()
}

func loopThreads() -> Int { threadNames().filter { $0.hasPrefix("socksd-loop") }.count }

func fail(_ message: String) -> Never {
    print("FAIL: \(message); threads now: \(threadNames())")
    exit(1)
}

/// Echoes one connection's bytes back until it closes.
func echoOnce(_ listener: TCPListener) async throws {
    let connection = try await listener.accept()
    defer { connection.close() }
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = try await connection.read(into: &buffer)
        if count == 0 { return }
        try await connection.write(buffer[0..<count])
    }
}

/// A server and a client: one CONNECT through the server to an echo listener, then both stopped.
func serveOneSession(eventLoops: EventLoopGroup?) async throws {
    let echo = try TCPListener(bindingTo: try SocketAddress("127.0.0.1", port: 0), loop: eventLoops?.next())
    defer { echo.close() }
    var configuration = SOCKSServer.Configuration()
    configuration.listenAddresses = [try SocketAddress("127.0.0.1", port: 0)]
    let server = try SOCKSServer(configuration: configuration, eventLoops: eventLoops)
    let serving = Task { try await server.run() }
    let echoing = Task { try await echoOnce(echo) }
    let proxy = SOCKSClient(host: "127.0.0.1", port: server.localAddresses[0].port)
    let tunnel = try await proxy.connect(to: SOCKSEndpoint(echo.localAddress))
    try await tunnel.connection.write(Array("ping".utf8))
    var reply = [UInt8](repeating: 0, count: 4)
    var received = 0
    while received < 4 {
        var chunk = [UInt8](repeating: 0, count: 4 - received)
        let count = try await tunnel.connection.read(into: &chunk)
        guard count > 0 else { fail("the tunnel closed early") }
        reply.replaceSubrange(received..<received + count, with: chunk[0..<count])
        received += count
    }
    guard reply == Array("ping".utf8) else { fail("echo returned \(reply)") }
    guard loopThreads() > 0 else { fail("no loop thread while serving") }
    tunnel.connection.close()
    try await echoing.value
    server.shutdown()
    try await serving.value
}

/// Waits up to 30 s for `condition` (libdispatch lets an idle worker thread go after about 5 s).
func eventually(_ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

// Warm the concurrency runtime up first, so that the baseline counts its threads.
for _ in 0..<3 {
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<8 { group.addTask { try? await Task.sleep(for: .milliseconds(5)) } }
    }
}
let baseline = threadNames()
print("baseline: \(baseline.count) threads \(baseline)")
guard loopThreads() == 0 else { fail("loop threads before any server or client") }

// 1. The shared loops: started by the server and the client, gone after both.
try await serveOneSession(eventLoops: nil)
guard await eventually({ loopThreads() == 0 && threadNames().count <= baseline.count }) else {
    fail("the shared loops did not stop after the server and the client; baseline \(baseline.count)")
}
print("shared loops: back to \(threadNames().count) threads")

// 2. An embedder's group: the server and the client run on it; after shutdown() its threads are joined.
let loops = try EventLoopGroup(loopCount: 2)
try await withTaskExecutorPreference(loops.next()) {
    try await serveOneSession(eventLoops: loops)
}
guard loopThreads() == 2 else { fail("an embedder's group's loops should run until its shutdown()") }
await loops.shutdown()
guard loopThreads() == 0 else { fail("threads of an embedder's group left after shutdown() returned") }
guard SharedEventLoops.runningGroup == nil else { fail("the shared loops ran though everything had a group") }
print("embedder's group: joined, \(threadNames().count) threads")
exit(0)
