import AsyncSockets
import Foundation
import SOCKSServer

/// The daemon's command line, parsed. This command line is a contract: scripts and units depend on it.
struct CommandLineOptions {
    static let version = "0.1.0"

    static let usage = """
        usage: socksd [--listen HOST:PORT]... [--user NAME:PASSWORD]... [--users-file FILE]
                      [--handshake-timeout SECONDS] [--connect-timeout SECONDS] [--idle-timeout SECONDS]
                      [--udp-timeout SECONDS] [--udp-advertise HOST] [--udp-full-cone] [--bind-timeout SECONDS]
                      [--upstream socks5://[USER:PASSWORD@]HOST:PORT] [--upstream-udp uot|uot1|associate]
                      [--log-level debug|info|warning|error] [--help] [--version]

        A SOCKS5 proxy (RFC 1928: CONNECT, BIND, UDP ASSOCIATE) with optional username/password
        authentication (RFC 1929), sing-box UDP over TCP (v1 and v2), and upstream chaining.

          --listen HOST:PORT         address to listen on; repeatable (default 127.0.0.1:1080).
                                     HOST is IPv4, [IPv6] or a name; port 0 picks a free port.
          --user NAME:PASSWORD       allow this user; repeatable. Any user makes login required.
          --users-file FILE          users, one NAME:PASSWORD per line, # for comments.
                                     A PASSWORD of the form $y$..., $6$..., $5$... is a crypt(3)
                                     hash (mkpasswd), checked through the system's libcrypt.
          --handshake-timeout SECS   time for greeting, login and request (default 10).
          --connect-timeout SECS     time to reach a CONNECT target (default 10).
          --idle-timeout SECS        close relays idle this long (default: never).
          --udp-timeout SECS         end UDP associations idle this long (default 300).
          --udp-advertise HOST       address to give UDP clients in BND.ADDR (behind NAT).
          --udp-full-cone            accept UDP replies from any remote, not only those the
                                     client has sent to.
          --bind-timeout SECS        time for a BIND peer to connect (default 60).
          --upstream URL             forward everything through this SOCKS5 server.
          --upstream-udp MODE        how UDP reaches the upstream: uot (UoT v2, default), uot1,
                                     or associate (the upstream's UDP ASSOCIATE).
          --log-level LEVEL          debug, info, warning or error (default info).
          --help                     show this help.
          --version                  show the version.

        On SIGINT or SIGTERM socksd stops accepting, lets sessions finish for 5 seconds, then exits 0.
        """

    /// A command line that cannot be used; the daemon prints the message and the usage, and exits 64.
    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    enum Mode: Equatable {
        case serve, help, version
    }

    var mode = Mode.serve
    var listen: [String] = []
    var users: [String] = []
    var usersFile: String?
    var handshakeTimeout: Duration = .seconds(10)
    var connectTimeout: Duration = .seconds(10)
    var idleTimeout: Duration?
    var udpTimeout: Duration = .seconds(300)
    var udpAdvertise: String?
    var udpFullCone = false
    var bindTimeout: Duration = .seconds(60)
    var upstream: String?
    var upstreamUDP = UpstreamProxy.UDPTransport.udpOverTCP(.v2)
    var logLevel = SOCKSLogger.Level.info

    init(arguments: [String]) throws(UsageError) {
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            var name = argument
            var inlineValue: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            func value() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                guard let next = remaining.popFirst() else { throw UsageError(description: "\(name) needs a value") }
                return next
            }
            switch name {
            case "--help", "-h": mode = .help
            case "--version": mode = .version
            case "--listen": listen.append(try value())
            case "--user": users.append(try value())
            case "--users-file": usersFile = try value()
            case "--handshake-timeout": handshakeTimeout = try Self.seconds(try value(), flag: name)
            case "--connect-timeout": connectTimeout = try Self.seconds(try value(), flag: name)
            case "--idle-timeout": idleTimeout = try Self.seconds(try value(), flag: name)
            case "--udp-timeout": udpTimeout = try Self.seconds(try value(), flag: name)
            case "--udp-advertise": udpAdvertise = try value()
            case "--udp-full-cone": udpFullCone = true
            case "--bind-timeout": bindTimeout = try Self.seconds(try value(), flag: name)
            case "--upstream": upstream = try value()
            case "--upstream-udp":
                let text = try value()
                guard let transport = UpstreamProxy.UDPTransport(name: text) else {
                    throw UsageError(description: "--upstream-udp must be uot, uot1 or associate, not '\(text)'")
                }
                upstreamUDP = transport
            case "--log-level":
                let text = try value()
                guard let level = SOCKSLogger.Level(name: text) else {
                    throw UsageError(description: "--log-level must be debug, info, warning or error, not '\(text)'")
                }
                logLevel = level
            default:
                throw UsageError(description: "unknown argument '\(argument)'")
            }
        }
    }

    /// A positive number of seconds, fractions allowed.
    private static func seconds(_ text: String, flag: String) throws(UsageError) -> Duration {
        guard let value = Double(text), value > 0, value.isFinite, value <= 86_400 * 365 else {
            throw UsageError(description: "\(flag) takes a positive number of seconds, not '\(text)'")
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }
}
