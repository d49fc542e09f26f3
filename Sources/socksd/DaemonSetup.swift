import AsyncSockets
import Foundation
import SOCKSServer

/// Turns parsed options into a server configuration: resolves listen names, reads the users file.
enum DaemonSetup {
    /// A problem that stops the daemon before it serves: printed, then exit 1.
    struct StartupError: Error, CustomStringConvertible {
        var description: String
    }

    static func configuration(from options: CommandLineOptions) async throws -> SOCKSServer.Configuration {
        var configuration = SOCKSServer.Configuration()
        configuration.handshakeTimeout = options.handshakeTimeout
        configuration.connectTimeout = options.connectTimeout
        configuration.idleTimeout = options.idleTimeout
        configuration.logger = .standardError(level: options.logLevel)
        configuration.udpTimeout = options.udpTimeout
        configuration.udpFullCone = options.udpFullCone
        configuration.bindTimeout = options.bindTimeout
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
            do {
                configuration.upstream = try UpstreamProxy(url: url, udpTransport: options.upstreamUDP)
            } catch {
                throw CommandLineOptions.UsageError(description: "--upstream: \(error)")
            }
        }
        return configuration
    }

    private static func users(from options: CommandLineOptions) throws -> UserDatabase? {
        guard !options.users.isEmpty || options.usersFile != nil else { return nil }
        var database = try UserDatabase([:])
        if let path = options.usersFile {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw StartupError(description: "cannot read users file \(path): \(error.localizedDescription)")
            }
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
