/// One thing wrong with a configuration: where (`path`) and what (`reason`), printed `PATH: REASON`
/// (`listeners[1].address: '127.0.0.1:70000' is not HOST:PORT with a port from 0 to 65535`).
package struct ConfigurationProblem: Sendable, Hashable, CustomStringConvertible {
    /// Whether the configuration is wrong as written, or names something that cannot be used.
    package enum Kind: Sendable, Hashable {
        /// A value, a key or the JSON itself is wrong: fixing the text fixes it.
        case invalid
        /// The text is fine, but what it names is not: a file that cannot be read or holds no usable users,
        /// a name that does not resolve.
        case environment
    }

    /// Where the problem is: a JSON path into the configuration file (`listeners[1].address`, `$` for the
    /// document as a whole), or a command-line flag (`--listen`) for a value given there.
    package var path: String
    /// What is wrong, in words; the text quoted in it may hold anything the file held.
    package var reason: String
    /// Whether the text is wrong or what it names is.
    package var kind: Kind

    /// A problem at `path` (a JSON path or a flag) for `reason`.
    package init(path: String, reason: String, kind: Kind = .invalid) {
        self.path = path
        self.reason = reason
        self.kind = kind
    }

    /// `PATH: REASON` on one line: control, format and other invisible characters from the file (in a key
    /// or a value quoted by the reason) are written as escapes (`\n`, `\u{202E}`), so that a problem can
    /// neither break into two lines nor rewrite the terminal it is printed on.
    package var description: String {
        var line = ""
        for scalar in "\(path): \(reason)".unicodeScalars {
            if RuleSyntaxError.isInvisible(scalar) {
                line += scalar.escaped(asASCII: true)
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        return line
    }
}
