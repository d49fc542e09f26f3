import Foundation
import Testing
import TestSupport

/// `promtool check metrics`, Prometheus's own check of the text format (Debian's `prometheus` package).
enum Promtool {
    static let path = "/usr/bin/promtool"

    /// Checks `exposition` and returns what promtool said; records a failure when it objects, and when it
    /// is not installed (a check that cannot run must not pass).
    static func check(_ exposition: String) async throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(path) is not installed: run .ci/run, or apt-get install prometheus")
            return ""
        }
        let directory = FileManager.default.temporaryDirectory
        let input = directory.appendingPathComponent("metrics-\(UUID().uuidString).txt").path
        let output = directory.appendingPathComponent("promtool-\(UUID().uuidString).txt").path
        defer {
            try? FileManager.default.removeItem(atPath: input)
            try? FileManager.default.removeItem(atPath: output)
        }
        try exposition.write(toFile: input, atomically: true, encoding: .utf8)
        // promtool reads the metrics from standard input, which ChildProcess gives /dev/null: a shell
        // redirects the file instead.
        let process = try ChildProcess("/bin/sh", ["-c", "exec \(path) check metrics < '\(input)'"], outputPath: output)
        let status = try await process.exitStatus()
        let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "promtool check metrics exited with \(status.map(String.init) ?? "no status"): \(said)")
        return said
    }
}
