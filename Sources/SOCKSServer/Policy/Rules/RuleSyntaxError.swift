/// Why a destination rule's target or a network (`--allow-to`, `--deny-to`, `--allow-from`) cannot be read.
///
/// The message names the offending text in quotes and says what is wrong with it, and often what was
/// probably meant: `'10.1.2.3/8' has host bits set; did you mean 10.0.0.0/8?`.
public struct RuleSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that could not be read: the whole target, or the part of it that is wrong.
    public let text: String
    /// The human message: the quoted text followed by the problem.
    public let description: String

    /// An error about `text`; `problem` continues the sentence after the quoted text ("is empty", "has …").
    init(_ text: some StringProtocol, _ problem: String) {
        self.text = String(text)
        self.description = "\(Self.quoted(text)) \(problem)"
    }

    /// Longer texts are cut, so a mistyped file pasted into an argument makes a message, not a page.
    private static let quotedLengthLimit = 120

    /// `text` in single quotes, with control, format and other invisible characters written as escapes
    /// (`\n`, `\u{202E}`), so the message shows what was typed and cannot rewrite the terminal or a log line.
    static func quoted(_ text: some StringProtocol) -> String {
        var quoted = "'"
        for (count, scalar) in text.unicodeScalars.enumerated() {
            if count == quotedLengthLimit {
                quoted += "…"
                break
            }
            if isInvisible(scalar) {
                quoted += scalar.escaped(asASCII: true)
            } else {
                quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "'"
    }

    /// Whether `scalar` would not show as itself: controls, format characters (such as bidirectional
    /// overrides), separators other than the plain space, private-use, surrogate and unassigned code points.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: true
        case .spaceSeparator: scalar != " "
        default: false
        }
    }
}
