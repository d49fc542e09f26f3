/// A crypt(3) hash standing in for a user's password (`$y$…`, `$6$…`), checked through the system's libcrypt.
///
/// Which secrets are hashes is decided by their first bytes alone (see `method(of:)` and `UserDatabase`);
/// whether a hash is usable is decided by libcrypt, once, when it is loaded (`init(validating:method:library:)`).
/// Checking a password blocks for the method's whole cost: `matches(_:)` belongs on `PasswordCheckPool`'s
/// threads, never on an event loop.
struct CryptHash: Sendable, Hashable {
    /// Why a secret shaped like a hash cannot be used.
    enum Problem: Error, Equatable {
        /// libcrypt could not be loaded (the reason from the loader).
        case libcryptUnavailable(String)
        /// libcrypt refuses the hash, or would make a hash of another shape from it (truncated, too long, a
        /// bare salt without the hash, a method this libcrypt was built without).
        case notCheckable
        /// A method too weak to accept, named.
        case legacy(String)

        /// The reason for an `InvalidEntry`, naming the user.
        func reason(forUser name: String, method: String) -> String {
            switch self {
            case .libcryptUnavailable(let why):
                "the password for \(name) is a crypt(3) hash ($\(method)$), but libcrypt cannot be loaded to check it: \(why)"
            case .notCheckable:
                "the hash for \(name) ($\(method)$) is not one libcrypt can check (malformed, truncated, or a method this system's libcrypt lacks)"
            case .legacy(let methodName):
                "the hash for \(name) is \(methodName) ($\(method)$), too weak to accept: hash the password with yescrypt ($y$) or SHA-512 ($6$)"
            }
        }
    }

    /// The methods accepted when this system's libcrypt can compute them, by identifier (what stands between
    /// the first two `$`).
    static let acceptedMethods: Set<String> = ["y", "gy", "7", "2b", "2y", "2a", "6", "5"]
    /// Methods recognised, so that their hashes are not mistaken for plain passwords, and refused: each is
    /// broken or far too fast to compute (libxcrypt itself calls them legacy).
    static let refusedMethods: [String: String] = [
        "1": "MD5-crypt", "2x": "bcrypt with the old sign-extension bug", "3": "an NT hash", "md5": "Sun MD5-crypt",
        "sha1": "SHA-1-crypt",
    ]

    /// What libcrypt hashes to make a decoy: any fixed phrase does, since a decoy is only checked for users
    /// who do not exist, and the answer is thrown away.
    private static let decoyPhrase = Array("socksd: a user that does not exist".utf8)

    /// The hash as written.
    let encoded: [UInt8]
    /// Its method's identifier: `"y"`, `"6"`, `"2b"`.
    let method: String
    /// A hash of `decoyPhrase` with this hash's setting: same method, cost and salt length, so checking a
    /// password against it costs what checking against `encoded` does (made while validating, for free).
    private let decoy: [UInt8]

    /// The method identifier of `secret` when it has the shape of a hash: `$`, an identifier in
    /// `acceptedMethods` or `refusedMethods`, `$`. Nil for anything else (`$ecret`, `$100$bill`, `$$`),
    /// which stays a plain password.
    static func method(of secret: [UInt8]) -> String? {
        let dollar = UInt8(ascii: "$")
        guard secret.first == dollar, let end = secret.dropFirst().firstIndex(of: dollar) else { return nil }
        let identifier = String(decoding: secret[1..<end], as: UTF8.self)
        return acceptedMethods.contains(identifier) || refusedMethods[identifier] != nil ? identifier : nil
    }

    /// Checks with libcrypt that `secret` (whose shape named `method`) is a whole hash it can check: hashing
    /// a phrase with it as the setting must give a hash of the same length, with the same setting (method,
    /// cost, salt), and the part after the setting must be in crypt(3)'s alphabet. Costs one hash.
    init(validating secret: [UInt8], method: String, library: Result<LibCrypt, LibCrypt.LoadError> = LibCrypt.system)
        throws(Problem)
    {
        if let name = Self.refusedMethods[method] { throw .legacy(name) }
        let libcrypt: LibCrypt
        switch library {
        case .success(let loaded): libcrypt = loaded
        case .failure(let error): throw .libcryptUnavailable(error.description)
        }
        guard let settingEnd = Self.settingEnd(of: secret, method: method),
            secret[settingEnd...].allSatisfy(Self.isHashCharacter),
            let decoy = libcrypt.hash(Self.decoyPhrase, setting: secret),
            decoy.count == secret.count, decoy[..<settingEnd] == secret[..<settingEnd]
        else { throw .notCheckable }
        self.init(encoded: secret, method: method, decoy: decoy)
    }

    private init(encoded: [UInt8], method: String, decoy: [UInt8]) {
        self.encoded = encoded
        self.method = method
        self.decoy = decoy
    }

    /// A hash that nobody's password matches, costing what this one does to check: for unknown users.
    var decoyHash: CryptHash { CryptHash(encoded: decoy, method: method, decoy: decoy) }

    /// Whether `password` hashes to this hash. Blocks for the method's cost.
    ///
    /// A password with a zero byte cannot reach crypt(3) whole (a C string ends there): it still costs one
    /// hash (of its other bytes), so that timing does not tell it apart, and never matches.
    func matches(_ password: [UInt8]) -> Bool {
        // The hash was validated with the loaded library, so only a hash made without one gets here without.
        guard case .success(let libcrypt) = LibCrypt.system else { return false }
        let hasZero = password.contains(0)
        guard let computed = libcrypt.hash(hasZero ? password.filter { $0 != 0 } : password, setting: encoded) else {
            return false
        }
        let equal = UserDatabase.constantTimeEqual(computed, encoded)
        return equal && !hasZero
    }

    /// Hashes are equal when their text is; the decoy follows from it.
    static func == (lhs: CryptHash, rhs: CryptHash) -> Bool { lhs.encoded == rhs.encoded }

    func hash(into hasher: inout Hasher) { hasher.combine(encoded) }

    /// Where the setting ends and the hash proper begins: after the last `$` for the `$`-separated methods,
    /// after the 22 salt characters of `$2b$NN$` for bcrypt, which has no `$` before its hash. Nil when there
    /// is no hash part at all.
    private static func settingEnd(of secret: [UInt8], method: String) -> Int? {
        let end: Int
        if method.hasPrefix("2") {
            end = "$2b$12$".utf8.count + 22
        } else {
            guard let lastDollar = secret.lastIndex(of: UInt8(ascii: "$")) else { return nil }
            end = lastDollar + 1
        }
        return end < secret.count ? end : nil
    }

    /// crypt(3)'s base-64 alphabet: `./0-9A-Za-z`.
    private static func isHashCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"):
            true
        default: false
        }
    }
}
