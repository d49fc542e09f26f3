import SOCKSProtocol

/// The users allowed to log in with RFC 1929 username/password, and their passwords or password hashes.
///
/// A secret is either a plain password or a crypt(3) hash as `mkpasswd` writes it. The rule: a secret is a
/// hash when it begins with `$`, a method identifier, and `$`, the identifier being one of `y` (yescrypt),
/// `gy` (gost-yescrypt), `7` (scrypt), `2b`, `2y`, `2a` (bcrypt), `6` (SHA-512-crypt) or `5`
/// (SHA-256-crypt), accepted when the system's libcrypt can check it, or one of `1`, `2x`, `3`, `md5`,
/// `sha1`, recognised and refused as too weak. Every other secret, including one that starts with `$`
/// otherwise (`$ecret`, `$100$bill`), is a plain password, compared byte for byte as before. A hash is
/// checked with libcrypt when it is loaded (one hash computation per entry), so a malformed one fails
/// there, with its line, and not at the user's first login.
///
/// Plain passwords are compared in constant time. Hashed checks run on `PasswordCheckPool`'s threads, never
/// on the caller's. When any user has a hash, every login costs one hash computation on that pool: an
/// unknown user's and a plain-password user's against a decoy of the most common method among the users
/// (same cost and salt as a real hash), so neither the answer (a busy pool refuses all alike) nor the
/// timing tells which users exist or how their secrets are stored. A database without hashes never uses
/// the pool. (Users whose hashes are of a rarer or costlier method than the decoy's still take longer.)
///
/// With a `pam` service, a name that is not in the database is checked through PAM instead (on the same
/// pool), and PAM may name the user otherwise (`Verification.accepted(user:)`); the database's own users
/// are never sent to PAM, so they keep their passwords and settings. A database with no users and a PAM
/// service checks every login through PAM.
public struct UserDatabase: Sendable, Hashable {
    /// A user's secret.
    enum Secret: Sendable, Hashable {
        case plain([UInt8])
        case hashed(CryptHash)
    }

    private var secrets: [[UInt8]: Secret]
    /// What an unknown user's password is checked against when some users have hashes; nil when none has.
    /// Follows from `secrets` (`chooseDecoy()` after every change), so equality ignores it.
    private(set) var decoy: CryptHash?

    /// The PAM service that checks names not in the database; nil (the default) refuses them.
    public var pam: PAMService?

    /// An entry that cannot be used: empty, longer than the 255 bytes RFC 1929 can carry, or a hash libcrypt
    /// cannot check.
    public struct InvalidEntry: Error, Hashable, Sendable, CustomStringConvertible {
        /// 1-based line number in a users file, or 0 for an entry given otherwise.
        public var line: Int
        public var reason: String
        public var description: String { line > 0 ? "line \(line): \(reason)" : reason }
    }

    /// Creates a database from name → password (or crypt(3) hash) pairs.
    public init(_ users: [String: String]) throws(InvalidEntry) {
        secrets = [:]
        for (name, password) in users.sorted(by: { $0.key < $1.key }) {
            try add(name: name, password: password, line: 0)
        }
        chooseDecoy()
    }

    /// Parses a users file: one `name:password` per line (the password may itself contain `:`, or be a crypt(3)
    /// hash); blank lines and lines starting with `#` are ignored.
    public init(usersFile text: String) throws(InvalidEntry) {
        secrets = [:]
        // Split on any newline Character: "\r\n" is one Character in Swift, so a split on "\n" misses it.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.trimmingSpaces.isEmpty || line.trimmingSpaces.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw InvalidEntry(line: index + 1, reason: "expected name:password")
            }
            try add(name: String(line[..<colon]), password: String(line[line.index(after: colon)...]), line: index + 1)
        }
        chooseDecoy()
    }

    /// Merges `other` into this database; on a name in both, `other`'s password wins, and `other`'s PAM
    /// service, when it has one, replaces this one's.
    package mutating func merge(_ other: UserDatabase) {
        secrets.merge(other.secrets) { _, new in new }
        pam = other.pam ?? pam
        chooseDecoy()
    }

    /// How many users there are.
    public var count: Int { secrets.count }

    /// The user names, for logs (never the passwords).
    public var usernames: [String] { secrets.keys.map { String(decoding: $0, as: UTF8.self) }.sorted() }

    /// Whether `credentials` name a user with that exact password (or one that matches the user's hash, or
    /// one the PAM service accepts).
    ///
    /// In a database without hashes a plain password is compared at once, on the caller's thread; otherwise
    /// the check takes a turn on `PasswordCheckPool` (see `check(_:)`), and one that cannot get one (the
    /// pool's queue is full, or it waited too long) fails, as a wrong password does.
    package func verify(_ credentials: SOCKSCredentials) async -> Bool {
        if case .accepted = await check(credentials) { return true }
        return false
    }

    /// The result of checking a login.
    package enum Verification: Sendable, Hashable {
        /// The user exists and the password is right. `user` is the name to serve the session as when PAM
        /// checked the login: PAM_USER after it, which a module may have mapped or canonicalised (nil when
        /// PAM named none); nil for a user of the database, whose name is the one given.
        case accepted(user: String?)
        /// An unknown user or a wrong password.
        case rejected
        /// The password could not be checked: the hash checker's queue was full or its wait timed out. Not
        /// the client's mistake, so it should not count as a failed login.
        case unavailable
    }

    /// Checks `credentials`, saying apart a wrong password from one that could not be checked.
    ///
    /// While any user has a hash, every login costs one hash check on `PasswordCheckPool`, whoever it names:
    /// a hashed user's against the hash, an unknown user's and a plain-password user's against the decoy
    /// (the plain password is then compared in constant time as well). So a saturated pool answers every
    /// login `.unavailable` alike, and an idle one takes about as long for each: neither tells whether the
    /// user exists or how its secret is stored.
    ///
    /// A name not in the database, with a `pam` service, is checked through PAM on the same pool instead
    /// (`pam_authenticate`, then `pam_acct_mgmt`): any refusal is `.rejected`. PAM is told `remoteHost` (the
    /// client's address as text), when given, as PAM_RHOST, for modules such as pam_access that decide by it;
    /// it is written out only then.
    package func check(_ credentials: SOCKSCredentials, remoteHost: @autoclosure () -> String? = nil) async -> Verification {
        let entry = secrets[credentials.username]
        if entry == nil, let pam {
            switch await PasswordCheckPool.login(credentials, from: remoteHost(), through: pam) {
            case .accepted(let user)?: return .accepted(user: user)
            case .refused?: return .rejected
            case nil: return .unavailable
            }
        }
        guard let decoy else {
            // No hashes: an unknown user is compared against a fixed dummy, so both paths cost the same.
            let stored: [UInt8]? = if case .plain(let password)? = entry { password } else { nil }
            let matches = Self.constantTimeEqual(stored ?? Self.dummyPassword, credentials.password)
            return stored != nil && matches ? .accepted(user: nil) : .rejected
        }
        switch entry {
        case .hashed(let hash)?:
            switch await PasswordCheckPool.check(credentials.password, against: hash) {
            case true?: return .accepted(user: nil)
            case false?: return .rejected
            case nil: return .unavailable
            }
        case .plain(let password)?:
            // The decoy's answer is ignored: the check is there for its cost and its place in the queue.
            guard await PasswordCheckPool.check(credentials.password, against: decoy) != nil else { return .unavailable }
            return Self.constantTimeEqual(password, credentials.password) ? .accepted(user: nil) : .rejected
        case nil:
            // Nobody matches, whatever the decoy's answer.
            return await PasswordCheckPool.check(credentials.password, against: decoy) == nil ? .unavailable : .rejected
        }
    }

    /// Databases are equal when they hold the same users with the same secrets, and the same PAM service.
    public static func == (lhs: UserDatabase, rhs: UserDatabase) -> Bool { lhs.secrets == rhs.secrets && lhs.pam == rhs.pam }

    /// Hashes the users, their secrets and the PAM service, as `==` compares them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(secrets)
        hasher.combine(pam)
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
        guard let method = CryptHash.method(of: password) else {
            secrets[name] = .plain(password)
            return
        }
        do {
            secrets[name] = .hashed(try CryptHash(validating: password, method: method))
        } catch {
            throw InvalidEntry(line: line, reason: error.reason(forUser: String(decoding: name, as: UTF8.self), method: method))
        }
    }

    /// Picks the decoy for unknown users: the decoy of the first user (by name) of the most common method
    /// (on a tie, the identifier first in order), so an unknown user most likely costs what a known one does.
    private mutating func chooseDecoy() {
        var methods: [String: (users: Int, first: (name: [UInt8], hash: CryptHash))] = [:]
        for case (let name, .hashed(let hash)) in secrets {
            if let seen = methods[hash.method] {
                let first = seen.first.name.lexicographicallyPrecedes(name) ? seen.first : (name, hash)
                methods[hash.method] = (seen.users + 1, first)
            } else {
                methods[hash.method] = (1, (name, hash))
            }
        }
        let mostCommon = methods.max { ($0.value.users, $1.key) < ($1.value.users, $0.key) }
        decoy = mostCommon?.value.first.hash.decoyHash
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
