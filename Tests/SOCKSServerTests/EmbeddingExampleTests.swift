import Foundation
import Testing

/// The README's examples: compiled in files of their own with the one import each shows
/// (`EmbeddingServerExample.swift`, `EmbeddingClientExample.swift`), the server one also run;
/// `readmeShowsTheseExamples` keeps the README and those files identical.
@Suite struct EmbeddingExampleTests {
    @Test func exampleRunsAndStops() async throws {
        try await embeddingExample()
    }

    @Test(arguments: [("server", "EmbeddingServerExample.swift", "import SOCKSServer\n\n"), ("client", "EmbeddingClientExample.swift", "import SOCKSClient\n\n")])
    func readmeShowsTheseExamples(name: String, file: String, imports: String) throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let root = directory.deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        // The example's file imports exactly what the README shows.
        #expect(source.split(separator: "\n").filter { $0.hasPrefix("import ") }.map { "\($0)\n" }.joined() + "\n" == imports)
        let body = source.components(separatedBy: "// BEGIN README EXAMPLE \(name)\n")[1].components(separatedBy: "    // END README EXAMPLE")[0]
        // The README shows the body unindented, after its imports.
        let unindented = body.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }.joined(separator: "\n")
        let expected = "```swift\n" + imports + unindented + "```"
        #expect(readme.contains(expected), "README.md's \(name) example must match \(file)")
    }
}
