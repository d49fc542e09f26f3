import AsyncSockets
import Foundation
import Glibc
import Testing
import TestSupport

/// A `socksd` process started by a test, with its standard error captured in a file.
final class DaemonProcess: Sendable {
    let process: ChildProcess
    let logPath: String

    /// The socksd binary that `swift build` put next to this test bundle.
    static var binaryPath: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("socksd").path
    }

    /// Starts `socksd` with `arguments`; with `fileLimit`, under `ulimit -n` of that many descriptors; with
    /// `environment` set over the test process's own; with `executable`, that program instead of the built
    /// binary (a copy of it, or a program that starts it).
    init(_ arguments: [String], fileLimit: Int? = nil, environment: [String: String] = [:], executable: String = DaemonProcess.binaryPath) throws {
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-test-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        if let fileLimit {
            process = try ChildProcess("/bin/sh", ["-c", "ulimit -n \(fileLimit) && exec \"$0\" \"$@\"", executable] + arguments, errorPath: logPath, environment: environment)
        } else {
            process = try ChildProcess(executable, arguments, errorPath: logPath, environment: environment)
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: logPath)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the `listening on HOST:PORT` lines and returns the addresses.
    func listeningAddresses(count: Int = 1, timeout: Duration = .seconds(20)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let lines = log.split(separator: "\n").filter { $0.hasPrefix("listening on ") }
            if lines.count >= count { return lines.map { String($0.dropFirst("listening on ".count)) } }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("socksd did not report listening; log:\n\(log)")
        throw SocketError.timedOut
    }

    /// The port of the first listener (a PROXY protocol listener's line ends in ` (PROXY protocol)`).
    func port() async throws -> UInt16 {
        let line = try #require(try await listeningAddresses().first)
        let address = line.split(separator: " ").first ?? Substring(line)
        return try #require(UInt16(address.split(separator: ":").last!))
    }

    /// Waits for the process to exit and returns its status.
    func exitStatus(timeout: Duration = .seconds(20)) async throws -> Int32 {
        guard let status = try await process.exitStatus(timeout: timeout) else {
            Issue.record("socksd did not exit; log:\n\(log)")
            throw SocketError.timedOut
        }
        return status
    }

    func signal(_ number: Int32) {
        process.signal(number)
    }
}

/// Runs a command to completion and returns its exit status and standard output (with standard error
/// after it when `includeErrors`, for diagnostics); `environment` is set over the test process's own.
func runCommand(
    _ path: String, _ arguments: [String], includeErrors: Bool = false, timeout: Duration = .seconds(30), environment: [String: String] = [:]
) async throws -> (status: Int32, output: String) {
    guard FileManager.default.isExecutableFile(atPath: path) else {
        Issue.record("\(path) is not installed: run .ci/run, or install it (apt-get install \(URL(fileURLWithPath: path).lastPathComponent))")
        throw SocketError.nameNotFound(path)
    }
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-test-output-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let process = try ChildProcess(path, arguments, outputPath: outputPath, errorPath: includeErrors ? nil : "/dev/null", environment: environment)
    guard let status = try await process.exitStatus(timeout: timeout) else {
        Issue.record("\(path) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        process.signal(SIGKILL)
        return (-1, "")
    }
    return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
}
