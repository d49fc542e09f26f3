/// Everything wrong with a configuration, in the order found, thrown by whatever reads one: a reader
/// reports every problem, not only the first.
package struct ConfigurationProblems: Error, Sendable, Hashable, CustomStringConvertible {
    /// Never empty when thrown.
    package var problems: [ConfigurationProblem]

    /// The problems, in the order found.
    package init(_ problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    /// One problem a line, `PATH: REASON`.
    package var description: String { problems.map(\.description).joined(separator: "\n") }
}
