import Foundation
import SOCKSServer

/// Fuzzes the reader of `--config FILE`: `JSONReader.parse` and `ConfigurationFile.read(json:)`.
///
/// Input: the file's bytes, as they are (the reader takes bytes: invalid UTF-8 is its to refuse).
///
/// Invariants, beyond not crashing:
/// - JSON: text the reader accepts, written back by `JSONValue.text`, reads as the same value; the reader
///   and Foundation's `JSONSerialization` agree on what is JSON, apart from the differences listed at
///   `foundationAgrees`;
/// - reading is deterministic: the same bytes twice give the same document and the same problems, and
///   `init(json:)` throws exactly those problems;
/// - every problem has a path and a reason, and prints on one line;
/// - a document without problems re-serialises: `json` reads back, without problems, as an equal document
///   (and writes the same text again).
func fuzzOneInput(_ input: [UInt8]) {
    checkJSON(input)
    let (file, problems) = ConfigurationFile.read(json: input)
    let (again, problemsAgain) = ConfigurationFile.read(json: input)
    expect(file == again && problems == problemsAgain, "reading the same bytes twice differs")
    switch Result(catching: { () throws(ConfigurationProblems) in try ConfigurationFile(json: input) }) {
    case .success(let thrown): expect(problems.isEmpty && thrown == file, "init(json:) accepted what read(json:) has problems with")
    case .failure(let error): expect(error.problems == problems && !problems.isEmpty, "init(json:) threw other problems than read(json:) found")
    }
    for problem in problems {
        expect(!problem.path.isEmpty && !problem.reason.isEmpty, "a problem without a path or a reason: \(problem)")
        expect(!problem.description.contains(where: \.isNewline), "a problem over more than one line: \(problem.description.debugDescription)")
    }
    guard problems.isEmpty else { return }
    let text = file.json
    switch Result(catching: { () throws(ConfigurationProblems) in try ConfigurationFile(json: Array(text.utf8)) }) {
    case .success(let reread):
        expect(reread == file, "\(text) reads back as another document")
        expect(reread.json == text, "\(text) writes back as \(reread.json)")
    case .failure(let error):
        expect(false, "\(text) reads back with problems: \(error)")
    }
}

/// The JSON layer alone: a value read writes back to text that reads as the same value, and Foundation
/// agrees on whether the bytes are JSON.
private func checkJSON(_ input: [UInt8]) {
    let parsed = Result { () throws(JSONReader.SyntaxError) in try JSONReader.parse(input) }
    if case .success(let value) = parsed {
        let again = Result { () throws(JSONReader.SyntaxError) in try JSONReader.parse(Array(value.text.utf8)) }
        expect(again == .success(value), "\(value.text) reads back as \(again)")
    }
    if case .failure(let error) = parsed {
        expect(error.line >= 1 && error.column >= 1 && !error.reason.isEmpty, "a syntax error without a place or a reason: \(error)")
    }
    let foundation = (try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])) != nil
    if let difference = foundationAgrees(reader: parsed, foundation: foundation, input: input) {
        expect(false, difference)
    }
}

/// `nil` when `JSONSerialization`'s verdict matches the reader's, or differs where Foundation is known to
/// read differently; a description of the difference otherwise. Known differences:
/// - Foundation refuses numbers it cannot hold in a `Double` or `Decimal` (`1e400`); the reader keeps a
///   number's text and leaves its range to whoever reads it;
/// - Foundation reads UTF-16 and UTF-32 (it guesses the encoding from the first bytes); a configuration
///   file is UTF-8, which the reader requires;
/// - Foundation accepts a trailing comma before `]` or `}` (`[1,]`); RFC 8259 does not, nor the reader.
private func foundationAgrees(reader: Result<JSONValue, JSONReader.SyntaxError>, foundation: Bool, input: [UInt8]) -> String? {
    switch (reader, foundation) {
    case (.success, true), (.failure, false):
        return nil
    case (.success(let value), false):
        if containsLargeNumber(value) { return nil }
        return "the reader accepts what JSONSerialization refuses: \(String(decoding: input.prefix(200), as: UTF8.self).debugDescription)"
    case (.failure(let error), true):
        let notUTF8 = input.starts(with: [0xFE, 0xFF]) || input.starts(with: [0xFF, 0xFE]) || input.prefix(4).contains(0)
        if notUTF8 { return nil }
        if (try? JSONReader.parse(withoutTrailingCommas(input))) != nil { return nil }
        return "JSONSerialization accepts what the reader refuses (\(error)): \(String(decoding: input.prefix(200), as: UTF8.self).debugDescription)"
    }
}

/// Whether a number in `value` is beyond what a `Double` holds as a finite value.
private func containsLargeNumber(_ value: JSONValue) -> Bool {
    switch value {
    case .number(let text): !(Double(text)?.isFinite ?? false)
    case .array(let elements): elements.contains(where: containsLargeNumber)
    case .object(let members): members.contains { containsLargeNumber($0.value) }
    default: false
    }
}

/// `input` without the commas that come right before a `]` or `}` (whitespace between), outside strings.
private func withoutTrailingCommas(_ input: [UInt8]) -> [UInt8] {
    var output: [UInt8] = []
    var inString = false
    var escaped = false
    for (index, byte) in input.enumerated() {
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
            }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
        } else if byte == UInt8(ascii: ",") {
            let next = input[(index + 1)...].first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            if next == UInt8(ascii: "]") || next == UInt8(ascii: "}") { continue }
        }
        output.append(byte)
    }
    return output
}
