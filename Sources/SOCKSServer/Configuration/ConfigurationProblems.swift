/// Everything wrong with a configuration, in the order found, thrown by whatever reads one: a reader
/// reports every problem, not only the first.
public struct ConfigurationProblems: Error, Sendable, Hashable, CustomStringConvertible {
    /// Never empty when thrown.
    public var problems: [ConfigurationProblem]

    /// The problems, in the order found.
    public init(_ problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    /// One problem a line, `PATH: REASON`.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
