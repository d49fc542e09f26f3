import SOCKSProtocol
import SOCKSServer

/// Fuzzes `UserDatabase(usersFile:)`, the parser of `--users-file`.
///
/// Input: the file's text (the bytes decoded as UTF-8, invalid sequences replaced, as any `String` may hold).
///
/// Invariants, beyond not crashing: the parser agrees with `SpecUsersFile`, written from the format's
/// description — one `NAME:PASSWORD` per line, split at the first colon; any newline ends a line (`\r\n` is
/// one); lines blank or starting with `#` after leading spaces and tabs are skipped; names and passwords
/// of 1 to 255 bytes; a later line for a name replaces an earlier one. It fails on the same line, or it
/// holds exactly those users: each logs in with its password, not with another, and no one else logs in.
func fuzzOneInput(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    let parsed = Result { () throws(UserDatabase.InvalidEntry) in try UserDatabase(usersFile: text) }
    let expected = SpecUsersFile(text)
    switch (parsed, expected.failingLine) {
    case (.failure(let error), let line?):
        expect(error.line == line, "failed on line \(error.line), the specification on line \(line)")
    case (.success(let database), nil):
        checkUsers(of: database, against: expected.users)
    case (.failure(let error), nil):
        expect(false, "refused \(error) where the specification accepts")
    case (.success, let line?):
        expect(false, "accepted a file the specification refuses at line \(line)")
    }
}

private func checkUsers(of database: UserDatabase, against users: [[UInt8]: [UInt8]]) {
    expect(database.count == users.count, "\(database.count) users, the specification has \(users.count)")
    let names = users.keys.map { String(decoding: $0, as: UTF8.self) }.sorted()
    expect(database.usernames == names, "user names differ")
    for (name, password) in users {
        expect(database.verify(SOCKSCredentials(username: name, password: password)), "\(name) cannot log in")
        // The password one byte longer, and with its last byte changed: both refused.
        expect(!database.verify(SOCKSCredentials(username: name, password: password + [0x21])), "longer password accepted")
        var changed = password
        changed[changed.count - 1] ^= 0x01
        expect(!database.verify(SOCKSCredentials(username: name, password: changed)), "wrong password accepted")
        let stranger = name + [0x2A]
        if users[stranger] == nil {
            expect(!database.verify(SOCKSCredentials(username: stranger, password: password)), "unknown user accepted")
        }
    }
}

/// A users file read from the format's description, line by line, with none of the parser's code.
struct SpecUsersFile {
    /// Name → password, as bytes (a user is the bytes of the name, not its Unicode equivalence class).
    private(set) var users: [[UInt8]: [UInt8]] = [:]
    /// The 1-based line of the first unusable entry.
    private(set) var failingLine: Int?

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
        guard (1...255).contains(name.count), (1...255).contains(password.count) else {
            failingLine = number
            return false
        }
        users[name] = password
        return true
    }
}
