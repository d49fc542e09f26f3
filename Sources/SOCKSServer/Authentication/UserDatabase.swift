import SOCKSProtocol

/// The users allowed to log in with RFC 1929 username/password, and their passwords.
///
/// Password checks take the same time whatever the password and whether the user exists, so timing does
/// not reveal either.
public struct UserDatabase: Sendable, Hashable {
    private var passwords: [[UInt8]: [UInt8]]

    /// An entry that cannot be used: empty, or longer than the 255 bytes RFC 1929 can carry.
    public struct InvalidEntry: Error, Hashable, Sendable, CustomStringConvertible {
        /// 1-based line number in a users file, or 0 for an entry given otherwise.
        public var line: Int
        public var reason: String
        public var description: String { line > 0 ? "line \(line): \(reason)" : reason }
    }

    /// Creates a database from name → password pairs.
    public init(_ users: [String: String]) throws(InvalidEntry) {
        passwords = [:]
        for (name, password) in users.sorted(by: { $0.key < $1.key }) {
            try add(name: name, password: password, line: 0)
        }
    }

    /// Parses a users file: one `name:password` per line (the password may itself contain `:`); blank lines
    /// and lines starting with `#` are ignored.
    public init(usersFile text: String) throws(InvalidEntry) {
        passwords = [:]
        // Split on any newline Character: "\r\n" is one Character in Swift, so a split on "\n" misses it.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.trimmingSpaces.isEmpty || line.trimmingSpaces.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw InvalidEntry(line: index + 1, reason: "expected name:password")
            }
            try add(name: String(line[..<colon]), password: String(line[line.index(after: colon)...]), line: index + 1)
        }
    }

    /// Merges `other` into this database; on a name in both, `other`'s password wins.
    public mutating func merge(_ other: UserDatabase) {
        passwords.merge(other.passwords) { _, new in new }
    }

    /// How many users there are.
    public var count: Int { passwords.count }

    /// The user names, for logs (never the passwords).
    public var usernames: [String] { passwords.keys.map { String(decoding: $0, as: UTF8.self) }.sorted() }

    /// Whether `credentials` name a user with that exact password.
    public func verify(_ credentials: SOCKSCredentials) -> Bool {
        // An unknown user is compared against a fixed dummy so both paths cost the same.
        let stored = passwords[credentials.username]
        let matches = Self.constantTimeEqual(stored ?? Self.dummyPassword, credentials.password)
        return stored != nil && matches
    }

    private mutating func add(name: String, password: String, line: Int) throws(InvalidEntry) {
        let name = Array(name.utf8)
        let password = Array(password.utf8)
        guard (1...255).contains(name.count) else {
            throw InvalidEntry(line: line, reason: "user name must be 1 to 255 bytes")
        }
        guard (1...255).contains(password.count) else {
            throw InvalidEntry(line: line, reason: "password must be 1 to 255 bytes")
        }
        passwords[name] = password
    }

    private static let dummyPassword = [UInt8](repeating: 0xA5, count: 32)

    /// Compares over the longest possible RFC 1929 field (255 bytes) whatever the lengths, with no early exit.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference: UInt8 = lhs.count == rhs.count ? 0 : 1
        for index in 0..<255 {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        drop(while: { $0 == " " || $0 == "\t" })
    }
}
