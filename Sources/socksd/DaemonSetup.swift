import AsyncSockets
import Foundation
import Glibc
import SOCKSServer

/// Turns the command line and the configuration file it names into what the daemon runs with: reads and
/// checks the file, lays the flags over it, resolves the names, reads the users and password files.
enum DaemonSetup {
    /// The daemon's settings from `options` and, when it names one, the configuration file: a flag given
    /// replaces that key of the file (a repeatable flag, the whole list); a setting neither gives has its
    /// default. Call it again to reload: it reads every file anew.
    ///
    /// - Throws: every problem found, each with the JSON path of the key in the file, or the flag, that
    ///   holds it. Problems of the kind `.environment` (a file that cannot be read, a name that does not
    ///   resolve) come from the system rather than from the text.
    static func load(_ options: CommandLineOptions) async throws(ConfigurationProblems) -> DaemonSettings {
        var setup = Loading(options: options)
        await setup.load()
        guard setup.problems.isEmpty else { throw ConfigurationProblems(setup.problems) }
        return setup.settings
    }
}

extension DaemonSetup {
    /// A file that cannot be read: why, for a problem's reason.
    struct FileError: Error, CustomStringConvertible {
        var description: String
    }

    /// Whether an upstream URL has a password in it (`socks5://user:password@host:port`).
    static func urlCarriesPassword(_ url: String) -> Bool {
        guard let schemeEnd = url.range(of: "://")?.upperBound, let at = url.lastIndex(of: "@"), at > schemeEnd else { return false }
        return url[schemeEnd..<at].contains(":")
    }

    /// A file's bytes, read as a stream so that a pipe (`--upstream-password-file <(pass show proxy)`) or
    /// a device works as well as a regular file.
    static func readFile(_ path: String) throws(FileError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        do {
            return Array(try handle.readToEnd() ?? Data())
        } catch {
            throw FileError(description: "cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// A file's text, which must be UTF-8.
    static func readText(_ path: String) throws(FileError) -> String {
        guard let text = String(validating: try readFile(path), as: UTF8.self) else {
            throw FileError(description: "\(path) is not UTF-8 text")
        }
        return text
    }
}
