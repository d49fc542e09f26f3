import AsyncSockets
import SOCKSProtocol

/// A socksd configuration file (`--config FILE`), read and checked: JSON whose keys are the daemon's
/// settings, each the counterpart of a command-line flag. Read it with `init(json:)`, which throws every
/// problem found (`ConfigurationProblems`), each with its JSON path.
///
/// ```json
/// {"listeners": ["127.0.0.1:1080"], "users": {"alice": "secret"}}
/// ```
///
/// Reading checks the structure (unknown keys and keys given twice are problems), the types, and every value
/// that can be checked without the system: addresses, networks, rules and rates with the parsers of the
/// command-line flags, numbers against the flags' ranges, and users' passwords and crypt(3) hashes with
/// `UserDatabase` (so libcrypt checks each hash once, here). What needs the system or the daemon is left to
/// the daemon, kept as written: names are not resolved, files (`usersFile`, `upstream.passwordFile`,
/// `log.file`) not opened, and `log.level`, `log.format`, `upstream.url` and `upstream.udp` are checked
/// where the daemon maps them to its own types.
///
/// A key left out is `nil` (or an empty section): the command line's flag, or else the default, decides.
package struct ConfigurationFile: Sendable, Hashable {
    /// `listeners`: the addresses to listen on, `HOST:PORT` (an IPv6 host in brackets; port 0 picks a free
    /// port), each written as a string or as an object with an `address`. Required, at least one (here or
    /// among `proxyProtocolListeners`).
    package internal(set) var listeners: [HostAndPort] = []
    /// The `listeners` written as objects with `"proxyProtocol": true`: behind a load balancer, each with
    /// the `trustedProxies` (networks) that may send the PROXY header.
    package internal(set) var proxyProtocolListeners: [ProxyListener] = []

    /// A `listeners` entry with `"proxyProtocol": true`.
    package struct ProxyListener: Sendable, Hashable {
        package var address: HostAndPort
        package var trustedProxies: [IPNetwork]
    }
    /// `protocols`: what every listener accepts (`socks5`, `socks4`, `http`), unless a `listeners` entry
    /// written as an object has `protocols` of its own. Written as an array of names or one string
    /// `"socks5,http"`. `nil` when the key is absent (the default, socks5 and http).
    package internal(set) var protocols: Set<ClientProtocol>?
    /// The `protocols` of the `listeners` entries written as objects that have them, by address.
    package internal(set) var listenerProtocols: [HostAndPort: Set<ClientProtocol>] = [:]
    /// `users`: who may log in, by name. `nil` when the key is absent.
    package internal(set) var users: [String: User]?
    /// The `users` as a database for `SOCKSServer.Configuration.users`, their passwords and hashes checked;
    /// `nil` when `users` is absent.
    package internal(set) var userDatabase: UserDatabase?
    /// `usersFile`: a users file (`NAME:PASSWORD` lines) to read as well; on a name in both, `users` wins.
    package internal(set) var usersFile: String?
    /// `pam`: the PAM service that checks logins of names not in `users` or `usersFile`.
    package internal(set) var pam = PAM()
    /// `gssapi`: GSS-API logins (RFC 1961) with the keys of a keytab.
    package internal(set) var gssapi = GSSAPI()
    /// `allowFrom`: the client networks that may connect (CIDR strings).
    package internal(set) var allowFrom: [IPNetwork]?
    /// `allowOpenProxy`: serve everyone on a package address without login.
    package internal(set) var allowOpenProxy: Bool?
    /// `rules`: the destination rules, in order, each `{"allow": TARGET}` or `{"deny": TARGET}`.
    package internal(set) var rules: [DestinationRule]?
    /// `limits`: session counts and rates.
    package internal(set) var limits = Limits()
    /// `timeouts`: in seconds, fractions allowed.
    package internal(set) var timeouts = Timeouts()
    /// `udp`: UDP ASSOCIATE options.
    package internal(set) var udp = UDP()
    /// `upstream`: a SOCKS5 server to forward everything through: the default upstream, for what no route
    /// matches.
    package internal(set) var upstream: Upstream?
    /// `upstreams`: named upstreams for `routes`, by name. `nil` when the key is absent.
    package internal(set) var upstreams: [String: Upstream]?
    /// `routes`: destinations and how they leave, in order. `nil` when the key is absent.
    package internal(set) var routes: [Route]?
    /// `upstreamHealth`: when an upstream is down, and how often it is probed then.
    package internal(set) var upstreamHealth = UpstreamHealth()
    /// `log`: the daemon's log.
    package internal(set) var log = Log()
    /// `metrics`: the Prometheus endpoint.
    package internal(set) var metrics = Metrics()
    /// `reload`: what a reload (SIGHUP) does.
    package internal(set) var reload = Reload()
    /// `performance`: how the daemon's event loops work.
    package internal(set) var performance = Performance()
    /// Where the listeners' and the metrics' addresses and the listeners' own protocols were written (not
    /// part of the document's value: see `SourcePaths`).
    package internal(set) var sourcePaths = SourcePaths()

    /// A document with nothing in it, for the reader to fill.
    init() {}

    /// The per-user settings, for `SOCKSServer.Configuration.userPolicies`: the users that have any.
    package var userPolicies: [String: UserPolicy] {
        (users ?? [:]).compactMapValues(\.policy)
    }

    /// One entry of `users`: a password (or crypt(3) hash) string, or an object with it and the user's own
    /// settings.
    package struct User: Sendable, Hashable {
        /// `password`: the password, or a crypt(3) hash as `mkpasswd` writes it (`$y$…`, `$6$…`).
        package internal(set) var password: String
        /// `rules`: this user's destination rules, tried before the server's.
        package internal(set) var rules: [DestinationRule] = []
        /// `maxSessions`: the sessions this user may have open, in place of `limits.maxSessionsPerUser`.
        package internal(set) var maxSessions: Int?
        /// `bandwidth`: bytes per second across this user's sessions.
        package internal(set) var bandwidth: Int?
        /// `routes`: this user's routes, tried before the server's.
        package internal(set) var routes: [Route] = []

        init(password: String) {
            self.password = password
        }

        /// This user's `UserPolicy`, or `nil` when it has no settings of its own.
        package var policy: UserPolicy? {
            guard !rules.isEmpty || maxSessions != nil || bandwidth != nil || !routes.isEmpty else { return nil }
            return UserPolicy(destinationRules: DestinationRules(rules), maxSessions: maxSessions, bandwidthLimit: bandwidth, routes: routes)
        }
    }

    /// The `limits` section: `--max-sessions` and its siblings.
    package struct Limits: Sendable, Hashable {
        /// `maxSessions`: sessions open at once (`--max-sessions`).
        package internal(set) var maxSessions: Int?
        /// `maxSessionsPerIP`: sessions one client IP may have open (`--max-sessions-per-ip`).
        package internal(set) var maxSessionsPerIP: Int?
        /// `maxSessionsPerUser`: sessions one user may have open (`--max-sessions-per-user`).
        package internal(set) var maxSessionsPerUser: Int?
        /// `maxUDPAssociations`: UDP associations and UoT streams open at once (`--max-udp-associations`).
        package internal(set) var maxUDPAssociations: Int?
        /// `newSessionsPerIP`: new sessions per client IP, `"20/s"` (`--new-sessions-per-ip`).
        package internal(set) var newSessionsPerIP: SessionRate?
        /// `authFailures`: failed logins per IP within a minute before a backoff; 0 turns it off
        /// (`--auth-failures`).
        package internal(set) var authFailures: Int?
    }

    /// The `timeouts` section, in seconds: `--handshake-timeout` and its siblings.
    package struct Timeouts: Sendable, Hashable {
        /// `handshake`: time for greeting, login and request (`--handshake-timeout`).
        package internal(set) var handshake: Duration?
        /// `connect`: time to reach a destination (`--connect-timeout`).
        package internal(set) var connect: Duration?
        /// `idle`: close a relay idle this long (`--idle-timeout`).
        package internal(set) var idle: Duration?
        /// `udp`: end a UDP association idle this long (`--udp-timeout`).
        package internal(set) var udp: Duration?
        /// `bind`: time for a BIND peer to connect (`--bind-timeout`).
        package internal(set) var bind: Duration?
        /// `drain`: after an upgrade (SIGUSR2), how long the old process serves its open sessions
        /// (`--drain-timeout`).
        package internal(set) var drain: Duration?
    }

    /// The `udp` section: `--udp-advertise` and `--udp-full-cone`.
    package struct UDP: Sendable, Hashable {
        /// `advertise`: the host (an address, or a name the daemon resolves) given in BND.ADDR.
        package internal(set) var advertise: String?
        /// `fullCone`: accept UDP replies from any remote (`--udp-full-cone`).
        package internal(set) var fullCone: Bool?
    }

    /// The `upstream` section: `--upstream`, `--upstream-password-file` and `--upstream-udp`, as written.
    package struct Upstream: Sendable, Hashable {
        /// `url`: `socks5://[USER[:PASSWORD]@]HOST:PORT`. Required in the section.
        package internal(set) var url: String
        /// `passwordFile`: the upstream password's file (its first line), for a URL with a user and no
        /// password.
        package internal(set) var passwordFile: String?
        /// `udp`: `uot`, `uot1` or `associate`.
        package internal(set) var udp: String?
    }

    /// The `upstreamHealth` section: `--upstream-failures` and `--upstream-probe-interval`.
    package struct UpstreamHealth: Sendable, Hashable {
        /// `failures`: consecutive failures after which an upstream is down.
        package internal(set) var failures: Int?
        /// `probeInterval`: seconds between probes of a down upstream.
        package internal(set) var probeInterval: Duration?
    }

    /// The `log` section: `--log-level`, `--log-file` and `--log-format`, as written.
    package struct Log: Sendable, Hashable {
        /// `level`: `debug`, `info`, `warning` or `error`.
        package internal(set) var level: String?
        /// `file`: the file to append the log to, in place of standard error.
        package internal(set) var file: String?
        /// `format`: `text` or `json`.
        package internal(set) var format: String?
    }

    /// The `metrics` section: `--metrics-listen`.
    package struct Metrics: Sendable, Hashable {
        /// `listen`: one `HOST:PORT` string or an array of them.
        package internal(set) var listen: [HostAndPort]?
    }

    /// The `pam` section: `--pam-service` and `--pam-confdir`, as written (the daemon loads libpam and
    /// checks the service).
    package struct PAM: Sendable, Hashable {
        /// `service`: the PAM service name, the file in `/etc/pam.d` (or in `confdir`) that stacks its modules.
        package internal(set) var service: String?
        /// `confdir`: the directory to read the service's file from instead of `/etc/pam.d`.
        package internal(set) var confdir: String?
    }

    /// The `gssapi` section: `--gssapi-keytab`, `--gssapi-service` and `--gssapi-protection`, as written (the
    /// daemon loads libgssapi_krb5 and reads the keytab).
    package struct GSSAPI: Sendable, Hashable {
        /// `keytab`: the keytab with the service's keys; required in the section.
        package internal(set) var keytab: String?
        /// `service`: the service name (`NAME` or `NAME@HOST`); `rcmd` when absent.
        package internal(set) var service: String?
        /// `protection`: the least protection level granted; `none` when absent.
        package internal(set) var protection: GSSAPIProtection?
    }

    /// The `reload` section.
    package struct Reload: Sendable, Hashable {
        /// `endSessionsOfRemovedUsers`: when a reload removes a user, end that user's open sessions
        /// (otherwise they run to their end).
        package internal(set) var endSessionsOfRemovedUsers: Bool?
    }

    /// The `performance` section.
    package struct Performance: Sendable, Hashable {
        /// `spinMicroseconds`: how long an event loop that was busy within the last millisecond polls before
        /// it sleeps; 0 turns the spin off (`--spin-microseconds`).
        package internal(set) var spinMicroseconds: Int?
    }
}

extension ConfigurationFile {
    /// The session counts a limit may be (`limits.maxSessions` and its siblings, `users.NAME.maxSessions`,
    /// `--max-sessions` and its siblings).
    package static let sessionCountRange = 1...10_000_000
    /// What `performance.spinMicroseconds` and `--spin-microseconds` may be; 0 turns the spin off.
    package static let spinMicrosecondsRange = 0...10_000
    /// What `limits.authFailures` and `--auth-failures` may be; 0 turns login throttling off.
    package static let authFailuresRange = 0...1_000_000
    /// What `users.NAME.bandwidth` may be, in bytes per second (up to 1 TiB/s).
    package static let bandwidthRange = 1...(1 << 40)
    /// What `upstreamHealth.failures` and `--upstream-failures` may be.
    package static let upstreamFailuresRange = 1...1000
    /// What a timeout may be, in seconds: a millisecond to a year.
    package static let secondsRange = 0.001...31_536_000.0

    /// A timeout of `seconds`, rounded to the millisecond; `nil` outside `secondsRange` (or not finite).
    package static func duration(seconds: Double) -> Duration? {
        guard secondsRange.contains(seconds) else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
