import Dispatch
import SOCKSProtocol
import SOCKSServer

/// Fuzzes `UserDatabase(usersFile:)`, the parser of `--users-file`.
///
/// Input: the file's text (the bytes decoded as UTF-8, invalid sequences replaced, as any `String` may hold).
///
/// Invariants, beyond not crashing: the parser agrees with `SpecUsersFile`, written from the format's
/// description — one `NAME:PASSWORD` per line, split at the first colon; any newline ends a line (`\r\n` is
/// one); lines blank or starting with `#` after leading spaces and tabs are skipped; names and passwords
/// of 1 to 255 bytes; a password shaped like a crypt(3) hash (`$ID$` with a known method identifier) is
/// refused, since this build has no libcrypt (Fuzz/Stubs); a later line for a name replaces an earlier one.
/// It fails on the same line, or it holds exactly those users: each logs in with its password, not with
/// another, and no one else logs in.
func fuzzOneInput(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    let parsed = Result { () throws(UserDatabase.InvalidEntry) in try UserDatabase(usersFile: text) }
    let expected = SpecUsersFile(text)
    switch (parsed, expected.failingLine) {
    case (.failure(let error), let line?):
        expect(error.line == line, "failed on line \(error.line), the specification on line \(line)")
    case (.success(let database), nil):
        let users = expected.users
        waitFor { await checkUsers(of: database, against: users) }
    case (.failure(let error), nil):
        expect(false, "refused \(error) where the specification accepts")
    case (.success, let line?):
        expect(false, "accepted a file the specification refuses at line \(line)")
    }
}

/// Runs `body` to its end on the concurrency runtime's threads while this one (libFuzzer's) waits:
/// `verify` is async, and libFuzzer's entry point is not.
private func waitFor(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

private func checkUsers(of database: UserDatabase, against users: [[UInt8]: [UInt8]]) async {
    expect(database.count == users.count, "\(database.count) users, the specification has \(users.count)")
    let names = users.keys.map { String(decoding: $0, as: UTF8.self) }.sorted()
    expect(database.usernames == names, "user names differ")
    for (name, password) in users {
        let loggedIn = await database.verify(SOCKSCredentials(username: name, password: password))
        expect(loggedIn, "\(name) cannot log in")
        // The password one byte longer, and with its last byte changed: both refused.
        let longer = await database.verify(SOCKSCredentials(username: name, password: password + [0x21]))
        expect(!longer, "longer password accepted")
        var changed = password
        changed[changed.count - 1] ^= 0x01
        let wrong = await database.verify(SOCKSCredentials(username: name, password: changed))
        expect(!wrong, "wrong password accepted")
        let stranger = name + [0x2A]
        if users[stranger] == nil {
            let unknown = await database.verify(SOCKSCredentials(username: stranger, password: password))
            expect(!unknown, "unknown user accepted")
        }
    }
}

/// A users file read from the format's description, line by line, with none of the parser's code.
struct SpecUsersFile {
    /// Name → password, as bytes (a user is the bytes of the name, not its Unicode equivalence class).
    private(set) var users: [[UInt8]: [UInt8]] = [:]
    /// The 1-based line of the first unusable entry.
    private(set) var failingLine: Int?

    /// The crypt(3) method identifiers: a password that starts `$ID$` with one of them is a hash.
    private static let hashMethods: Set<String> = ["y", "gy", "7", "2a", "2b", "2y", "5", "6", "1", "2x", "3", "md5", "sha1"]

    init(_ text: String) {
        var lineNumber = 1
        var lineStart = text.startIndex
        for index in text.indices where text[index].isNewline {
            guard read(text[lineStart..<index], number: lineNumber) else { return }
            lineNumber += 1
            lineStart = text.index(after: index)
        }
        _ = read(text[lineStart...], number: lineNumber)
    }

    /// Takes in one line; `false` when it is unusable.
    private mutating func read(_ line: Substring, number: Int) -> Bool {
        let content = line.drop(while: { $0 == " " || $0 == "\t" })
        if content.isEmpty || content.first == "#" { return true }
        guard let colon = line.firstIndex(of: ":") else {
            failingLine = number
            return false
        }
        let name = Array(line[..<colon].utf8)
        let password = Array(line[line.index(after: colon)...].utf8)
        guard (1...255).contains(name.count), (1...255).contains(password.count), !Self.isHash(password) else {
            failingLine = number
            return false
        }
        users[name] = password
        return true
    }
    private static func isHash(_ password: [UInt8]) -> Bool {
        guard password.first == UInt8(ascii: "$"), let second = password.dropFirst().firstIndex(of: UInt8(ascii: "$")) else {
            return false
        }
        return hashMethods.contains(String(decoding: password[1..<second], as: UTF8.self))
    }
}
