import AsyncSockets
import Foundation
import SOCKSProtocol
import SOCKSServer

/// The daemon's command line, parsed. This command line is a contract: scripts and units depend on it.
struct CommandLineOptions {
    static let version = "0.1.0"

    static let usage = """
        usage: socksd [--config FILE] [--listen HOST:PORT]... [--user NAME:PASSWORD]... [--users-file FILE]
                      [--allow-from CIDR]... [--allow-to TARGET]... [--deny-to TARGET]... [--allow-open-proxy]
                      [--max-sessions N] [--max-sessions-per-ip N] [--max-sessions-per-user N]
                      [--max-udp-associations N] [--new-sessions-per-ip RATE] [--auth-failures N]
                      [--handshake-timeout SECONDS] [--connect-timeout SECONDS] [--idle-timeout SECONDS]
                      [--udp-timeout SECONDS] [--udp-advertise HOST] [--udp-full-cone] [--bind-timeout SECONDS]
                      [--drain-timeout SECONDS]
                      [--upstream socks5://[USER[:PASSWORD]@]HOST:PORT] [--upstream-password-file FILE]
                      [--upstream-udp uot|uot1|associate] [--log-level debug|info|warning|error]
                      [--log-file PATH] [--log-format text|json] [--metrics-listen HOST:PORT]...
                      [--proxy-protocol-listen HOST:PORT]... [--proxy-protocol-from CIDR]...
                      [--protocols socks5,socks4,http]
                      [--pam-service NAME] [--pam-confdir DIR] [--spin-microseconds N]
                      [--gssapi-keytab FILE] [--gssapi-service NAME]
                      [--gssapi-protection none|integrity|confidentiality]
               socksd --check-config FILE [FLAG]...
               socksd --help | --version

        A SOCKS5 proxy (RFC 1928: CONNECT, BIND, UDP ASSOCIATE) with optional username/password
        authentication (RFC 1929), sing-box UDP over TCP (v1 and v2), and upstream chaining. On the
        same port, an HTTP proxy: CONNECT tunnels and forwarded http:// requests (absolute form, kept
        alive), with Proxy-Authorization: Basic for the same users; and SOCKS4/4a (CONNECT, BIND) when
        asked for.

          --config FILE              read the settings from this JSON file (see the README). A flag
                                     given beside it replaces that key of the file; a repeatable
                                     flag (--listen, --user, --allow-from, --allow-to/--deny-to,
                                     --metrics-listen) replaces the whole list.
          --check-config FILE        check FILE (with any flags given beside it) as socksd would
                                     start with it, without listening: prints 'FILE: OK', or every
                                     problem as 'PATH: REASON' and exits 64.
          --listen HOST:PORT         address to listen on; repeatable (default 127.0.0.1:1080).
                                     HOST is IPv4, [IPv6] or a name; port 0 picks a free port.
          --proxy-protocol-listen HOST:PORT
                                     a listener behind a load balancer: every connection starts
                                     with a PROXY protocol header (v1 or v2) naming the client;
                                     repeatable. Any listener replaces the default.
          --proxy-protocol-from CIDR the balancers that may connect to those listeners; repeatable,
                                     required with --proxy-protocol-listen.
          --protocols LIST           what every listener accepts, told apart by a connection's
                                     first byte: socks5, socks4, http, separated by commas
                                     (default socks5,http). socks4 carries no password: it is
                                     refused while users must log in.
          --user NAME:PASSWORD       allow this user; repeatable. Any user makes login required.
                                     (visible to other local users: prefer --users-file)
          --users-file FILE          users, one NAME:PASSWORD per line, # for comments; PASSWORD
                                     may be a crypt(3) hash ($y$, $6$, $5$, as mkpasswd writes).
          --pam-service NAME         check the logins of names not among the users through PAM
                                     service NAME (/etc/pam.d/NAME: authentication, then the
                                     account); makes login required. Needs libpam.so.0.
          --pam-confdir DIR          read the PAM service's file from DIR, not /etc/pam.d.
          --gssapi-keytab FILE       offer GSS-API logins (SOCKS5 method 01, RFC 1961) with the
                                     Kerberos keys in FILE; the client's principal is its user.
                                     Makes login required. Needs libgssapi_krb5.so.2.
          --gssapi-service NAME      the service whose keys are used: NAME/HOST for any host in
                                     the keytab, or NAME@HOST for one (default rcmd).
          --gssapi-protection LEVEL  the least protection granted: none (default), integrity or
                                     confidentiality.

        Who may use it (a listener that is not loopback needs users, --allow-from or
        --allow-open-proxy):
          --allow-from CIDR          only clients from this network may connect; repeatable.
          --deny-to TARGET           refuse destinations matching TARGET (reply 02); repeatable.
          --allow-to TARGET          allow destinations matching TARGET; repeatable. The --deny-to
                                     and --allow-to rules are tried in the order given, the first
                                     match wins, and no match allows. TARGET is an IP, a CIDR, a
                                     domain (with its subdomains), * (any), or private (loopback,
                                     RFC 1918, link-local, CGNAT, ULA, multicast...), with an
                                     optional :PORT or :LOW-HIGH; [IPv6]:PORT.
          --allow-open-proxy         serve everyone on a public address without login (you mean it).
          --max-sessions N           sessions open at once; more are closed at accept.
          --max-sessions-per-ip N    sessions one client IP may have open.
          --max-sessions-per-user N  sessions one user may have open (reply 02 past it).
          --max-udp-associations N   UDP associations and UoT streams open at once (reply 02).
          --new-sessions-per-ip RATE new sessions per client IP, such as 20/s or 600/m.
          --auth-failures N          failed logins per IP within a minute before that IP's logins
                                     are refused for a backoff, 30 s doubling to 5 min (default
                                     10; 0 turns it off).

        Timeouts and relays:
          --handshake-timeout SECS   time for greeting, login and request (default 10).
          --connect-timeout SECS     time to reach a CONNECT target (default 10).
          --idle-timeout SECS        close relays idle this long (default: never).
          --udp-timeout SECS         end UDP associations idle this long (default 300).
          --udp-advertise HOST       address to give UDP clients in BND.ADDR (behind NAT).
          --udp-full-cone            accept UDP replies from any remote, not only those the
                                     client has sent to.
          --bind-timeout SECS        time for a BIND peer to connect (default 60).
          --drain-timeout SECS       after an upgrade (SIGUSR2), how long the old process serves
                                     its open sessions before it cancels them (default 3600).
          --upstream [NAME=]URL      forward through this SOCKS5 server: without a name, what no
                                     route matches (the default upstream); with one, for --route.
                                     Repeatable; direct and default are reserved names.
          --upstream-password-file [NAME=]FILE
                                     the upstream password (first line), for a URL with a user
                                     and no password; or set SOCKSD_UPSTREAM_PASSWORD (named:
                                     SOCKSD_UPSTREAM_PASSWORD_NAME, upper-case, - as _).
          --upstream-udp [NAME=]MODE how UDP reaches the upstream: uot (UoT v2, default), uot1,
                                     or associate (the upstream's UDP ASSOCIATE).
          --route TARGET=VIA         send destinations matching TARGET (as --deny-to) direct, or
                                     through upstream NAME, or NAME1,NAME2 (failing over in that
                                     order); repeatable, first match wins; no match uses the
                                     default upstream, or goes direct.
          --upstream-failures N      consecutive failures before an upstream is down (default 3).
          --upstream-probe-interval SECS
                                     how often a down upstream is probed (default 5).
          --log-level LEVEL          debug, info, warning or error (default info).
          --log-file PATH            append the log to PATH (reopened on SIGHUP) instead of
                                     standard error.
          --log-format FORMAT        text (default) or json: one JSON object a line.
          --metrics-listen HOST:PORT serve Prometheus metrics (GET /metrics) and GET /healthz on
                                     this address; repeatable.
          --spin-microseconds N      how long an event loop busy within the last millisecond polls
                                     before it sleeps (default 50; 0 turns the spin off).
          --help                     show this help.
          --version                  show the version.

        On SIGINT or SIGTERM socksd stops accepting, lets sessions finish for 5 seconds, then exits 0.
        On SIGUSR2 it starts its executable again with the same arguments, hands it the listening
        sockets, and once the new process is listening, drains its own sessions and exits 0.
        """

    /// A command line that cannot be used; the daemon prints the message and the usage, and exits 64.
    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    enum Mode: Equatable {
        case serve, help, version
        /// `--check-config FILE`: load the configuration as `serve` would, report, and exit.
        case checkConfig
    }

    // A setting left nil (or a list left empty) was not given: the configuration file, or else the
    // default, decides. A flag that takes no value can only turn its setting on.
    var mode = Mode.serve
    /// `--config FILE`, or the FILE of `--check-config FILE`.
    var configFile: String?
    var listen: [HostAndPort] = []
    var users: [(name: String, password: String)] = []
    var usersFile: String?
    var handshakeTimeout: Duration?
    var connectTimeout: Duration?
    var idleTimeout: Duration?
    var udpTimeout: Duration?
    var udpAdvertise: String?
    var udpFullCone = false
    var bindTimeout: Duration?
    /// `--drain-timeout SECONDS`: how long the old process of an upgrade serves its open sessions.
    var drainTimeout: Duration?
    var upstream: String?
    var upstreamPasswordFile: String?
    var allowOpenProxy = false
    var allowFrom: [IPNetwork] = []
    /// `--allow-to` and `--deny-to`, in the order given.
    var destinationRules: [DestinationRule] = []
    var maxSessions: Int?
    var maxSessionsPerIP: Int?
    var maxSessionsPerUser: Int?
    var maxUDPAssociations: Int?
    var newSessionsPerIP: SessionRate?
    var authFailures: Int?
    var spinMicroseconds: Int?
    var upstreamUDP: UpstreamProxy.UDPTransport?
    // Routing: `--upstream NAME=URL` and its named siblings, `--route`, the health settings.
    /// `--upstream NAME=URL`, in the order given.
    var namedUpstreams: [(name: String, url: String)] = []
    /// `--upstream-password-file NAME=FILE`, by name.
    var namedUpstreamPasswordFiles: [String: String] = [:]
    /// `--upstream-udp NAME=MODE`, by name.
    var namedUpstreamUDP: [String: UpstreamProxy.UDPTransport] = [:]
    /// `--route TARGET=VIA`, in the order given: replaces the file's `routes`.
    var routes: [Route] = []
    var upstreamFailures: Int?
    var upstreamProbeInterval: Duration?
    var logLevel: SOCKSLogger.Level?
    var logFile: String?
    var logFormat: LogFormat?
    var metricsListen: [HostAndPort] = []
    var proxyProtocolListen: [HostAndPort] = []
    var proxyProtocolFrom: [IPNetwork] = []
    /// `--protocols`: replaces the file's `protocols`, its listeners' own among them.
    var protocols: Set<ClientProtocol>?
    /// `--pam-service`: replaces the file's `pam.service`.
    var pamService: String?
    /// `--pam-confdir`: replaces the file's `pam.confdir`.
    var pamConfdir: String?
    /// `--gssapi-keytab`: replaces the file's `gssapi.keytab`.
    var gssapiKeytab: String?
    /// `--gssapi-service`: replaces the file's `gssapi.service`.
    var gssapiService: String?
    /// `--gssapi-protection`: replaces the file's `gssapi.protection`.
    var gssapiProtection: GSSAPIProtection?

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
            case "--config", "--check-config":
                let path = try value()
                guard configFile == nil || configFile == path else {
                    throw UsageError(description: "\(name): one configuration file at a time (--config and --check-config name different files)")
                }
                configFile = path
                if name == "--check-config" { mode = .checkConfig }
            case "--listen": listen.append(try Self.address(try value(), flag: name))
            case "--metrics-listen": metricsListen.append(try Self.address(try value(), flag: name))
            case "--proxy-protocol-listen": proxyProtocolListen.append(try Self.address(try value(), flag: name))
            case "--proxy-protocol-from": proxyProtocolFrom.append(try Self.network(try value(), flag: name))
            case "--protocols":
                let text = try value()
                do {
                    protocols = try ClientProtocol.parse(list: text)
                } catch {
                    throw UsageError(description: "--protocols: \(error)")
                }
            case "--user":
                let entry = try value()
                guard let colon = entry.firstIndex(of: ":") else {
                    throw UsageError(description: "--user takes NAME:PASSWORD")
                }
                users.append((String(entry[..<colon]), String(entry[entry.index(after: colon)...])))
            case "--users-file": usersFile = try value()
            case "--pam-service": pamService = try value()
            case "--pam-confdir": pamConfdir = try value()
            case "--gssapi-keytab": gssapiKeytab = try value()
            case "--gssapi-service": gssapiService = try value()
            case "--gssapi-protection":
                let text = try value()
                guard let level = GSSAPIProtection(name: text) else {
                    throw UsageError(description: "--gssapi-protection: '\(text)' is not none, integrity or confidentiality")
                }
                gssapiProtection = level
            case "--handshake-timeout": handshakeTimeout = try Self.seconds(try value(), flag: name)
            case "--connect-timeout": connectTimeout = try Self.seconds(try value(), flag: name)
            case "--idle-timeout": idleTimeout = try Self.seconds(try value(), flag: name)
            case "--udp-timeout": udpTimeout = try Self.seconds(try value(), flag: name)
            case "--udp-advertise": udpAdvertise = try value()
            case "--udp-full-cone": udpFullCone = true
            case "--bind-timeout": bindTimeout = try Self.seconds(try value(), flag: name)
            case "--drain-timeout": drainTimeout = try Self.seconds(try value(), flag: name)
            case "--upstream":
                let text = try value()
                if let (name, url) = try Self.named(text, flag: name, beforeScheme: true) {
                    namedUpstreams.append((name, url))
                } else {
                    upstream = text
                }
            case "--upstream-password-file":
                let text = try value()
                if let (name, file) = try Self.named(text, flag: name, beforeScheme: false) {
                    namedUpstreamPasswordFiles[name] = file
                } else {
                    upstreamPasswordFile = text
                }
            case "--route":
                let text = try value()
                do {
                    routes.append(try Route(parsing: text))
                } catch {
                    throw UsageError(description: "--route: \(error)")
                }
            case "--upstream-failures":
                let text = try value()
                guard let count = Int(text), ConfigurationFile.upstreamFailuresRange.contains(count) else {
                    let range = ConfigurationFile.upstreamFailuresRange
                    throw UsageError(description: "--upstream-failures takes a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
                }
                upstreamFailures = count
            case "--upstream-probe-interval": upstreamProbeInterval = try Self.seconds(try value(), flag: name)
            case "--allow-open-proxy": allowOpenProxy = true
            case "--allow-from": allowFrom.append(try Self.network(try value(), flag: name))
            case "--allow-to", "--deny-to":
                let text = try value()
                do {
                    destinationRules.append(try DestinationRule(action: name == "--allow-to" ? .allow : .deny, parsing: text))
                } catch {
                    throw UsageError(description: "\(name): \(error)")
                }
            case "--max-sessions": maxSessions = try Self.count(try value(), flag: name)
            case "--max-sessions-per-ip": maxSessionsPerIP = try Self.count(try value(), flag: name)
            case "--max-sessions-per-user": maxSessionsPerUser = try Self.count(try value(), flag: name)
            case "--max-udp-associations": maxUDPAssociations = try Self.count(try value(), flag: name)
            case "--new-sessions-per-ip":
                let text = try value()
                do {
                    newSessionsPerIP = try SessionRate(parsing: text)
                } catch {
                    throw UsageError(description: "--new-sessions-per-ip: \(error)")
                }
            case "--auth-failures":
                let text = try value()
                guard let count = Int(text), ConfigurationFile.authFailuresRange.contains(count) else {
                    throw UsageError(description: "--auth-failures takes a number of failed logins (0 turns throttling off), not '\(text)'")
                }
                authFailures = count
            case "--spin-microseconds":
                let text = try value()
                guard let microseconds = Int(text), ConfigurationFile.spinMicrosecondsRange.contains(microseconds) else {
                    throw UsageError(description: "--spin-microseconds takes microseconds from 0 (no spin) to 10000, not '\(text)'")
                }
                spinMicroseconds = microseconds
            case "--upstream-udp":
                var text = try value()
                let upstreamName = try Self.named(text, flag: name, beforeScheme: false)
                if let upstreamName { text = upstreamName.value }
                guard let transport = UpstreamProxy.UDPTransport(name: text) else {
                    throw UsageError(description: "--upstream-udp must be uot, uot1 or associate, not '\(text)'")
                }
                if let upstreamName { namedUpstreamUDP[upstreamName.name] = transport } else { upstreamUDP = transport }
            case "--log-level":
                let text = try value()
                guard let level = SOCKSLogger.Level(name: text) else {
                    throw UsageError(description: "--log-level must be debug, info, warning or error, not '\(text)'")
                }
                logLevel = level
            case "--log-file":
                let path = try value()
                guard !path.isEmpty else { throw UsageError(description: "--log-file needs a file name") }
                logFile = path
            case "--log-format":
                let text = try value()
                guard let format = LogFormat(rawValue: text) else {
                    throw UsageError(description: "--log-format must be text or json, not '\(text)'")
                }
                logFormat = format
            default:
                throw UsageError(description: "unknown argument '\(argument)'")
            }
        }
    }

    /// `NAME=VALUE` split at its first `=`, for the flags of named upstreams; nil for a value without a
    /// name. With `beforeScheme`, only an `=` before `://` names (a URL's password may hold one).
    private static func named(_ text: String, flag: String, beforeScheme: Bool) throws(UsageError) -> (name: String, value: String)? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        if beforeScheme, let scheme = text.range(of: "://"), scheme.lowerBound < equals { return nil }
        let name = String(text[..<equals])
        if !beforeScheme && name.contains("/") { return nil }  // a file name with an `=` in it
        if let problem = Route.problem(withUpstreamName: name) {
            throw UsageError(description: "\(flag): \(problem)")
        }
        return (name, String(text[text.index(after: equals)...]))
    }

    /// A positive whole number, for a limit.
    private static func count(_ text: String, flag: String) throws(UsageError) -> Int {
        let range = ConfigurationFile.sessionCountRange
        guard let value = Int(text), range.contains(value) else {
            throw UsageError(description: "\(flag) takes a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }

    /// A positive number of seconds, fractions allowed, as the configuration file's timeouts.
    private static func seconds(_ text: String, flag: String) throws(UsageError) -> Duration {
        guard let value = Double(text), let duration = ConfigurationFile.duration(seconds: value) else {
            throw UsageError(description: "\(flag) takes a positive number of seconds (at least 0.001), not '\(text)'")
        }
        return duration
    }

    /// `HOST:PORT` or `[IPv6]:PORT`.
    private static func address(_ text: String, flag: String) throws(UsageError) -> HostAndPort {
        do {
            return try HostAndPort(parsing: text)
        } catch {
            throw UsageError(description: "\(flag): \(error)")
        }
    }

    /// A CIDR or a bare address (`--allow-from`, `--proxy-protocol-from`).
    private static func network(_ text: String, flag: String) throws(UsageError) -> IPNetwork {
        do {
            return try IPNetwork(parsing: text)
        } catch {
            throw UsageError(description: "\(flag): \(error)")
        }
    }
}
