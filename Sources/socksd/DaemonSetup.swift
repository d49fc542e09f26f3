import AsyncSockets
import Foundation
import Glibc
import SOCKSServer

/// Turns parsed options into a server configuration: resolves listen names, reads the users file.
enum DaemonSetup {
    /// A problem that stops the daemon before it serves: printed, then exit 1.
    struct StartupError: Error, CustomStringConvertible {
        var description: String
    }

    /// The configuration the options describe; `warnings` gets what the operator should hear before the
    /// server starts (secrets on the command line).
    static func configuration(from options: CommandLineOptions, warnings: inout [String]) async throws -> SOCKSServer.Configuration {
        var configuration = SOCKSServer.Configuration()
        configuration.handshakeTimeout = options.handshakeTimeout
        configuration.connectTimeout = options.connectTimeout
        configuration.idleTimeout = options.idleTimeout
        configuration.logger = .standardError(level: options.logLevel)
        configuration.udpTimeout = options.udpTimeout
        configuration.udpFullCone = options.udpFullCone
        configuration.bindTimeout = options.bindTimeout
        configuration.allowOpenProxy = options.allowOpenProxy
        configuration.allowFrom = options.allowFrom
        configuration.destinationRules = DestinationRules(options.destinationRules)
        configuration.maxSessions = options.maxSessions
        configuration.maxSessionsPerIP = options.maxSessionsPerIP
        configuration.maxSessionsPerUser = options.maxSessionsPerUser
        configuration.maxUDPAssociations = options.maxUDPAssociations
        configuration.newSessionsPerIP = options.newSessionsPerIP
        configuration.loginFailureLimit = options.authFailures
        if let host = options.udpAdvertise {
            do {
                configuration.udpAdvertiseAddress = try await NameResolver.shared.resolve(host: host, port: 0).first?.ip
            } catch {
                throw StartupError(description: "cannot resolve --udp-advertise '\(host)': \(error)")
            }
        }
        if !options.listen.isEmpty {
            var addresses: [SocketAddress] = []
            for text in options.listen {
                let listen: HostAndPort
                do {
                    listen = try HostAndPort(parsing: text)
                } catch {
                    throw CommandLineOptions.UsageError(description: "--listen: \(error)")
                }
                do {
                    for address in try await NameResolver.shared.resolve(host: listen.host, port: listen.port) where !addresses.contains(address) {
                        addresses.append(address)
                    }
                } catch {
                    throw StartupError(description: "cannot resolve listen address '\(text)': \(error)")
                }
            }
            configuration.listenAddresses = addresses
        }
        configuration.users = try users(from: options)
        if let url = options.upstream {
            let password = try upstreamPassword(from: options)
            do {
                configuration.upstream = try UpstreamProxy(url: url, udpTransport: options.upstreamUDP, password: password)
            } catch {
                throw CommandLineOptions.UsageError(
                    description: "--upstream: \(error)" + (password == nil ? " (give the password with --upstream-password-file or SOCKSD_UPSTREAM_PASSWORD)" : ""))
            }
            if urlCarriesPassword(url) {
                warnings.append("the --upstream password is on the command line, where other local users can read it; use --upstream-password-file or SOCKSD_UPSTREAM_PASSWORD")
            }
        } else if options.upstreamPasswordFile != nil {
            throw CommandLineOptions.UsageError(description: "--upstream-password-file needs --upstream")
        }
        if !options.users.isEmpty {
            warnings.append("--user puts passwords on the command line, where other local users can read them; use --users-file")
        }
        return configuration
    }

    /// Whether an upstream URL has a password in it (`socks5://user:password@host:port`).
    private static func urlCarriesPassword(_ url: String) -> Bool {
        guard let schemeEnd = url.range(of: "://")?.upperBound, let at = url.lastIndex(of: "@"), at > schemeEnd else { return false }
        return url[schemeEnd..<at].contains(":")
    }

    /// A file's text, read as a stream so that a pipe (`--upstream-password-file <(pass show proxy)`) or a
    /// device works as well as a regular file.
    private static func readText(_ path: String, what: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StartupError(description: "cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw StartupError(description: "cannot read \(what) \(path): \(error.localizedDescription)")
        }
        guard let text = String(bytes: data, encoding: .utf8) else {
            throw StartupError(description: "\(what) \(path) is not UTF-8 text")
        }
        return text
    }

    /// The upstream password from `--upstream-password-file` (its first line) or, without one, from the
    /// `SOCKSD_UPSTREAM_PASSWORD` environment variable; nil when neither is given.
    private static func upstreamPassword(from options: CommandLineOptions) throws -> String? {
        if let path = options.upstreamPasswordFile {
            let text = try readText(path, what: "upstream password file")
            guard let line = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).first, !line.isEmpty else {
                throw StartupError(description: "upstream password file \(path) is empty")
            }
            return String(line)
        }
        // The environment is ambient (a shell profile may set it for every run): a URL that carries its own
        // password wins over it, where a file given on this command line would be a contradiction.
        if let url = options.upstream, urlCarriesPassword(url) { return nil }
        if let password = ProcessInfo.processInfo.environment["SOCKSD_UPSTREAM_PASSWORD"], !password.isEmpty {
            return password
        }
        return nil
    }

    private static func users(from options: CommandLineOptions) throws -> UserDatabase? {
        guard !options.users.isEmpty || options.usersFile != nil else { return nil }
        var database = try UserDatabase([:])
        if let path = options.usersFile {
            let text = try readText(path, what: "users file")
            do {
                database.merge(try UserDatabase(usersFile: text))
            } catch {
                throw StartupError(description: "users file \(path): \(error)")
            }
        }
        for entry in options.users {
            guard let colon = entry.firstIndex(of: ":") else {
                throw CommandLineOptions.UsageError(description: "--user takes NAME:PASSWORD")
            }
            do {
                database.merge(try UserDatabase([String(entry[..<colon]): String(entry[entry.index(after: colon)...])]))
            } catch {
                throw CommandLineOptions.UsageError(description: "--user: \(error)")
            }
        }
        guard database.count > 0 else {
            throw StartupError(description: "users file \(options.usersFile ?? "") lists no users; refusing to start with a login nobody can pass")
        }
        return database
    }
}
