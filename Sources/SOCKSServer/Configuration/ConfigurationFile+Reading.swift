import AsyncSockets
import SOCKSProtocol

extension ConfigurationFile {
    /// The keys of each object, in the order the README documents them (and `json` writes them).
    enum Keys {
        static let top = [
            "listeners", "protocols", "users", "usersFile", "pam", "gssapi", "allowFrom", "allowOpenProxy", "rules", "limits", "timeouts", "udp", "upstream", "upstreams",
            "routes", "upstreamHealth", "log",
            "metrics", "reload", "performance",
        ]
        static let listener = ["address", "proxyProtocol", "trustedProxies", "protocols"]
        static let user = ["password", "rules", "maxSessions", "bandwidth", "routes"]
        static let route = ["to", "via", "strategy"]
        static let upstreamHealth = ["failures", "probeInterval"]
        static let rule = ["allow", "deny"]
        static let limits = ["maxSessions", "maxSessionsPerIP", "maxSessionsPerUser", "maxUDPAssociations", "newSessionsPerIP", "authFailures"]
        static let timeouts = ["handshake", "connect", "idle", "udp", "bind", "drain"]
        static let udp = ["advertise", "fullCone"]
        static let upstream = ["url", "passwordFile", "udp"]
        static let log = ["level", "file", "format"]
        static let metrics = ["listen"]
        static let reload = ["endSessionsOfRemovedUsers"]
        static let pam = ["service", "confdir"]
        static let performance = ["spinMicroseconds"]
        static let gssapi = ["keytab", "service", "protection"]
    }

    /// Reads a configuration file's bytes (UTF-8 JSON).
    ///
    /// - Throws: every problem found: for each object, its unknown and repeated keys, then its values in
    ///   the order of `Keys` (the order the README documents them).
    package init(json: [UInt8]) throws(ConfigurationProblems) {
        let (file, problems) = Self.read(json: json)
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        self = file
    }

    /// Reads as much of a configuration file as can be read: the document with every unusable value left
    /// out, and the problems. For a caller that goes on to check what the document names (its files, its
    /// names) so as to report those problems too; a document that came with problems must not be used.
    package static func read(json: [UInt8]) -> (file: ConfigurationFile, problems: [ConfigurationProblem]) {
        var file = ConfigurationFile()
        let root: JSONValue
        do {
            root = try JSONReader.parse(json)
        } catch {
            return (file, [ConfigurationProblem(path: JSONPath.root.description, reason: "not JSON: \(error)")])
        }
        var reader = ConfigurationReader()
        file.read(root, &reader)
        return (file, reader.problems)
    }

    private mutating func read(_ root: JSONValue, _ reader: inout ConfigurationReader) {
        guard let top = reader.object(root, at: .root, known: Keys.top) else { return }
        if let (value, path) = top["listeners"] {
            readListeners(value, at: path, &reader)
        } else {
            reader.report(JSONPath.root.appending("listeners"), "required: the addresses to listen on, such as [\"127.0.0.1:1080\"]")
        }
        if let (value, path) = top["protocols"] {
            protocols = Self.readProtocols(value, at: path, &reader)
        }
        if let (value, path) = top["users"] {
            readUsers(value, at: path, usersFileGiven: top["usersFile"] != nil, pamGiven: top["pam"] != nil, &reader)
        }
        if let (value, path) = top["usersFile"] {
            usersFile = reader.string(value, at: path, "a file name")
        }
        if let (value, path) = top["pam"], let members = reader.object(value, at: path, known: Keys.pam) {
            pam.service = members["service"].flatMap { value, path in reader.string(value, at: path, "a PAM service name") }
            pam.confdir = members["confdir"].flatMap { value, path in reader.string(value, at: path, "a directory") }
            if members["service"] == nil {
                reader.report(path.appending("service"), "required: the PAM service to check logins with, such as \"socksd\"")
            }
        }
        if let (value, path) = top["gssapi"], let members = reader.object(value, at: path, known: Keys.gssapi) {
            gssapi.keytab = members["keytab"].flatMap { value, path in reader.string(value, at: path, "a keytab file") }
            gssapi.service = members["service"].flatMap { value, path in reader.string(value, at: path, "a GSS-API service name, such as \"rcmd\"") }
            gssapi.protection = members["protection"].flatMap { value, path in
                let expected = "none, integrity or confidentiality"
                guard let name = reader.string(value, at: path, expected) else { return nil }
                guard let level = GSSAPIProtection(name: name) else {
                    reader.report(path, "'\(name)' is not \(expected)")
                    return nil
                }
                return level
            }
            if members["keytab"] == nil {
                reader.report(path.appending("keytab"), "required: the keytab with the service's Kerberos keys")
            }
        }
        if let (value, path) = top["allowFrom"] {
            allowFrom = Self.readNetworks(value, at: path, &reader)
        }
        if let (value, path) = top["allowOpenProxy"] {
            allowOpenProxy = reader.bool(value, at: path)
        }
        if let (value, path) = top["rules"] {
            rules = Self.readRules(value, at: path, &reader)
        }
        if let (value, path) = top["limits"], let members = reader.object(value, at: path, known: Keys.limits) {
            limits.read(members, &reader)
        }
        if let (value, path) = top["timeouts"], let members = reader.object(value, at: path, known: Keys.timeouts) {
            let seconds = { (key: String, reader: inout ConfigurationReader) -> Duration? in
                members[key].flatMap { value, path in reader.seconds(value, at: path) }
            }
            timeouts = Timeouts(
                handshake: seconds("handshake", &reader), connect: seconds("connect", &reader), idle: seconds("idle", &reader),
                udp: seconds("udp", &reader), bind: seconds("bind", &reader), drain: seconds("drain", &reader))
        }
        if let (value, path) = top["udp"], let members = reader.object(value, at: path, known: Keys.udp) {
            udp.advertise = members["advertise"].flatMap { value, path in reader.string(value, at: path, "a host name or address") }
            udp.fullCone = members["fullCone"].flatMap { value, path in reader.bool(value, at: path) }
        }
        if let (value, path) = top["upstream"], let members = reader.object(value, at: path, known: Keys.upstream) {
            upstream = Self.readUpstream(members, at: path, &reader)
        }
        if let (value, path) = top["upstreams"], let members = reader.namedMembers(value, at: path, expected: "an object of upstream names and their settings") {
            var named: [String: Upstream] = [:]
            for (name, value, upstreamPath) in members {
                if let problem = Route.problem(withUpstreamName: name) {
                    reader.report(upstreamPath, problem)
                    continue
                }
                guard let fields = reader.object(value, at: upstreamPath, known: Keys.upstream) else { continue }
                if let upstream = Self.readUpstream(fields, at: upstreamPath, &reader) { named[name] = upstream }
            }
            upstreams = named
        }
        if let (value, path) = top["routes"] {
            routes = Self.readRoutes(value, at: path, &reader)
        }
        if let (value, path) = top["upstreamHealth"], let members = reader.object(value, at: path, known: Keys.upstreamHealth) {
            upstreamHealth.failures = members["failures"].flatMap { value, path in reader.integer(value, at: path, in: Self.upstreamFailuresRange) }
            upstreamHealth.probeInterval = members["probeInterval"].flatMap { value, path in reader.seconds(value, at: path) }
        }
        if let (value, path) = top["log"], let members = reader.object(value, at: path, known: Keys.log) {
            log.level = members["level"].flatMap { value, path in reader.string(value, at: path, "debug, info, warning or error") }
            log.file = members["file"].flatMap { value, path in reader.string(value, at: path, "a file name") }
            log.format = members["format"].flatMap { value, path in reader.string(value, at: path, "text or json") }
        }
        if let (value, path) = top["metrics"], let members = reader.object(value, at: path, known: Keys.metrics),
            let (listen, listenPath) = members["listen"]
        {
            let addresses = Self.readAddresses(listen, at: listenPath, &reader)
            metrics.listen = addresses?.map(\.address)
            sourcePaths.metricsListen = addresses?.map(\.location) ?? []
        }
        if let (value, path) = top["reload"], let members = reader.object(value, at: path, known: Keys.reload) {
            reload.endSessionsOfRemovedUsers = members["endSessionsOfRemovedUsers"].flatMap { value, path in reader.bool(value, at: path) }
        }
        if let (value, path) = top["performance"], let members = reader.object(value, at: path, known: Keys.performance) {
            performance.spinMicroseconds = members["spinMicroseconds"].flatMap { value, path in
                reader.integer(value, at: path, in: ConfigurationFile.spinMicrosecondsRange)
            }
        }
    }

    private mutating func readListeners(_ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader) {
        let expected = "HOST:PORT strings or objects with an \"address\""
        guard let elements = reader.array(value, at: path, of: expected) else { return }
        guard !elements.isEmpty else {
            reader.report(path, "must list at least one address, such as \"127.0.0.1:1080\"")
            return
        }
        for (index, (element, elementPath)) in elements.enumerated() {
            let (addressValue, addressPath): (JSONValue, JSONPath)
            switch element {
            case .string:
                (addressValue, addressPath) = (element, elementPath)
            case .object:
                guard let members = reader.object(element, at: elementPath, known: Keys.listener) else { continue }
                guard let address = members["address"] else {
                    reader.report(elementPath.appending("address"), "required: the address to listen on, HOST:PORT")
                    continue
                }
                let proxyProtocol = members["proxyProtocol"].flatMap { value, path in reader.bool(value, at: path) } ?? false
                let trusted = members["trustedProxies"].flatMap { value, path in Self.readNetworks(value, at: path, &reader) }
                let ownProtocols = members["protocols"].flatMap { value, path in Self.readProtocols(value, at: path, &reader) }
                let protocolsLocation = members["protocols"].map { _, path in SourcePaths.Location(path: path.description, index: index) }
                let addressLocation = SourcePaths.Location(path: address.1.description, index: index)
                if proxyProtocol {
                    guard let trusted, !trusted.isEmpty else {
                        reader.report(
                            elementPath.appending("trustedProxies"),
                            "required with proxyProtocol: the balancers that may send PROXY headers (anyone else could claim any client address)")
                        continue
                    }
                    if let address = Self.readAddress(address.0, at: address.1, &reader) {
                        proxyProtocolListeners.append(ProxyListener(address: address, trustedProxies: trusted))
                        sourcePaths.proxyProtocolListeners.append(addressLocation)
                        if let ownProtocols {
                            listenerProtocols[address] = ownProtocols
                            sourcePaths.listenerProtocols[address] = protocolsLocation
                        }
                    }
                    continue
                }
                if members["trustedProxies"] != nil {
                    reader.report(elementPath.appending("trustedProxies"), "only means something with \"proxyProtocol\": true")
                }
                guard let listener = Self.readAddress(address.0, at: address.1, &reader) else { continue }
                listeners.append(listener)
                sourcePaths.listeners.append(addressLocation)
                if let ownProtocols {
                    listenerProtocols[listener] = ownProtocols
                    sourcePaths.listenerProtocols[listener] = protocolsLocation
                }
                continue
            default:
                reader.report(elementPath, "must be a HOST:PORT string or an object with an \"address\", not \(element.kindDescription)")
                continue
            }
            if let address = Self.readAddress(addressValue, at: addressPath, &reader) {
                listeners.append(address)
                sourcePaths.listeners.append(SourcePaths.Location(path: addressPath.description, index: index))
            }
        }
    }

    private mutating func readUsers(
        _ value: JSONValue, at path: JSONPath, usersFileGiven: Bool, pamGiven: Bool, _ reader: inout ConfigurationReader
    ) {
        guard let members = reader.namedMembers(value, at: path, expected: "an object of user names and their passwords") else { return }
        if members.isEmpty && !usersFileGiven && !pamGiven {
            reader.report(path, "lists no users, and there is no usersFile or pam: nobody could log in (leave the key out for no login)")
        }
        var users: [String: User] = [:]
        var database: UserDatabase?
        for (name, value, userPath) in members {
            var user: User
            var passwordPath = userPath
            switch value {
            case .string(let password):
                user = User(password: password)
            case .object:
                guard let fields = reader.object(value, at: userPath, known: Keys.user) else { continue }
                guard let (passwordValue, path) = fields["password"] else {
                    reader.report(userPath.appending("password"), "required: the password or its crypt(3) hash")
                    continue
                }
                guard case .string(let password) = passwordValue else {
                    reader.report(path, "must be a password or a crypt(3) hash, not \(passwordValue.kindDescription)")
                    continue
                }
                passwordPath = path
                user = User(password: password)
                if let (rules, path) = fields["rules"] {
                    user.rules = Self.readRules(rules, at: path, &reader) ?? []
                }
                user.maxSessions = fields["maxSessions"].flatMap { value, path in
                    reader.integer(value, at: path, in: Self.sessionCountRange)
                }
                if let (routes, path) = fields["routes"] {
                    user.routes = Self.readRoutes(routes, at: path, &reader) ?? []
                }
                user.bandwidth = fields["bandwidth"].flatMap { value, path in
                    reader.integer(value, at: path, in: Self.bandwidthRange, unit: " of bytes per second")
                }
            default:
                reader.report(userPath, "must be a password (or crypt(3) hash) string, or an object with a \"password\", not \(value.kindDescription)")
                continue
            }
            // One database per user, so that a problem names its user's path; merged after.
            do {
                let single = try UserDatabase([name: user.password])
                if database == nil { database = single } else { database?.merge(single) }
                users[name] = user
            } catch {
                reader.report(passwordPath, error.reason)
            }
        }
        self.users = users
        // An empty `users` next to a `usersFile` is a database the file's users are merged into.
        self.userDatabase = database ?? (try? UserDatabase([:]))
    }

    /// An upstream's `url`, `passwordFile` and `udp`, as written (the daemon checks them).
    private static func readUpstream(_ members: [String: (JSONValue, JSONPath)], at path: JSONPath, _ reader: inout ConfigurationReader) -> Upstream? {
        let url = members["url"].flatMap { value, path in reader.string(value, at: path, "a URL such as socks5://host:1080") }
        let passwordFile = members["passwordFile"].flatMap { value, path in reader.string(value, at: path, "a file name") }
        let transport = members["udp"].flatMap { value, path in reader.string(value, at: path, "uot, uot1 or associate") }
        if members["url"] == nil {
            reader.report(path.appending("url"), "required: the upstream server, such as socks5://user@host:1080")
        }
        return url.map { Upstream(url: $0, passwordFile: passwordFile, udp: transport) }
    }

    /// An array of routes, each `{"to": TARGET, "via": "NAME" | "direct" | ["A", "B"], "strategy": …}`; nil
    /// when it is not an array. Whether the names are configured upstreams is the daemon's check.
    static func readRoutes(_ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader) -> [Route]? {
        let expected = "routes, each {\"to\": TARGET, \"via\": \"NAME\"}"
        guard let elements = reader.array(value, at: path, of: expected) else { return nil }
        return elements.compactMap { element, path in
            guard let members = reader.object(element, at: path, known: Keys.route) else { return nil }
            guard let (toValue, toPath) = members["to"] else {
                reader.report(path.appending("to"), "required: the destinations (a TARGET, as in rules)")
                return nil
            }
            guard let (viaValue, viaPath) = members["via"] else {
                reader.report(path.appending("via"), "required: direct, an upstream name, or an array of names")
                return nil
            }
            let target = reader.parsed(toValue, at: toPath, "a TARGET string (an address, network, domain, * or private, with an optional :PORT)") {
                text throws(RouteSyntaxError) in try Route.parseTarget(text)
            }
            var names: [String]?
            switch viaValue {
            case .string(let text):
                names = [text]
            case .array(let elements):
                names = elements.compactMap { element -> String? in
                    if case .string(let name) = element { return name }
                    return nil
                }
                if names?.count != elements.count {
                    reader.report(viaPath, "must list upstream names (strings)")
                    names = nil
                }
            default:
                reader.report(viaPath, "must be direct, an upstream name, or an array of names, not \(viaValue.kindDescription)")
            }
            var via: Route.Via?
            if let names {
                do {
                    via = try Route.names(names, in: names.joined(separator: ","))
                } catch {
                    reader.report(viaPath, "\(error)")
                }
            }
            var strategy = Route.Strategy.failover
            if let (value, strategyPath) = members["strategy"] {
                if let text = reader.string(value, at: strategyPath, "failover or round-robin") {
                    if let named = Route.Strategy(rawValue: text) {
                        strategy = named
                    } else {
                        reader.report(strategyPath, "must be failover or round-robin, not \(RuleSyntaxError.quoted(text))")
                    }
                }
            }
            guard let target, let via else { return nil }
            return Route(target: target, via: via, strategy: strategy)
        }
    }

    /// An array of rules, each `{"allow": TARGET}` or `{"deny": TARGET}`; `nil` when it is not an array.
    private static func readRules(_ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader) -> [DestinationRule]? {
        guard let elements = reader.array(value, at: path, of: "rules, each {\"allow\": TARGET} or {\"deny\": TARGET}") else { return nil }
        return elements.compactMap { element, path in
            guard let members = reader.object(element, at: path, known: Keys.rule) else { return nil }
            switch (members["allow"], members["deny"]) {
            case (nil, nil):
                // An object with only unknown keys was reported for them already.
                if case .object(let all) = element, all.isEmpty {
                    reader.report(path, "is empty: a rule is {\"allow\": TARGET} or {\"deny\": TARGET}")
                }
                return nil
            case (_?, _?):
                reader.report(path, "has both 'allow' and 'deny': a rule is one of them (write two rules)")
                return nil
            case (let allow?, nil):
                return readRule(allow.0, at: allow.1, action: .allow, &reader)
            case (nil, let deny?):
                return readRule(deny.0, at: deny.1, action: .deny, &reader)
            }
        }
    }

    private static func readRule(
        _ value: JSONValue, at path: JSONPath, action: DestinationRule.Action, _ reader: inout ConfigurationReader
    ) -> DestinationRule? {
        reader.parsed(value, at: path, "a TARGET string (an address, network, domain, * or private, with an optional :PORT)") {
            text throws(RuleSyntaxError) in try DestinationRule(action: action, parsing: text)
        }
    }

    private static func readAddress(_ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader) -> HostAndPort? {
        reader.parsed(value, at: path, "a HOST:PORT string") { text throws(HostAndPort.ParseError) in try HostAndPort(parsing: text) }
    }

    /// The protocols a listener accepts: an array of names (`["socks5", "http"]`) or one string of them
    /// separated by commas (`"socks5,http"`), as `--protocols` takes it; at least one, none twice.
    private static func readProtocols(_ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader) -> Set<ClientProtocol>? {
        let expected = "protocol names (socks5, socks4, http)"
        if case .string(let text) = value {
            do {
                return try ClientProtocol.parse(list: text)
            } catch {
                reader.report(path, error.description)
                return nil
            }
        }
        guard let elements = reader.array(value, at: path, of: expected + ", or one string such as \"socks5,http\"") else { return nil }
        var names: [String] = []
        for (element, elementPath) in elements {
            guard case .string(let name) = element else {
                reader.report(elementPath, "must be a protocol name (socks5, socks4, http), not \(element.kindDescription)")
                return nil
            }
            names.append(name)
        }
        do {
            return try ClientProtocol.parse(names: names)
        } catch {
            reader.report(path, error.description)
            return nil
        }
    }

    /// An array of networks (`allowFrom`, `trustedProxies`); nil when the value is not an array.
    private static func readNetworks(_ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader) -> [IPNetwork]? {
        guard let elements = reader.array(value, at: path, of: "networks (CIDR strings)") else { return nil }
        return elements.compactMap { element, path in
            reader.parsed(element, at: path, "a network such as 192.0.2.0/24") { text throws(RuleSyntaxError) in try IPNetwork(parsing: text) }
        }
    }

    /// One `HOST:PORT` string or an array of them, each with where it was written.
    private static func readAddresses(
        _ value: JSONValue, at path: JSONPath, _ reader: inout ConfigurationReader
    ) -> [(address: HostAndPort, location: SourcePaths.Location)]? {
        if case .string = value {
            return readAddress(value, at: path, &reader).map { [($0, SourcePaths.Location(path: path.description, index: 0))] }
        }
        guard let elements = reader.array(value, at: path, of: "HOST:PORT strings (or one such string)") else { return nil }
        return elements.enumerated().compactMap { index, element in
            readAddress(element.0, at: element.1, &reader).map { ($0, SourcePaths.Location(path: element.1.description, index: index)) }
        }
    }
}

extension ConfigurationFile.Limits {
    fileprivate mutating func read(_ members: [String: (JSONValue, JSONPath)], _ reader: inout ConfigurationReader) {
        let count = { (key: String, reader: inout ConfigurationReader) -> Int? in
            members[key].flatMap { value, path in reader.integer(value, at: path, in: ConfigurationFile.sessionCountRange) }
        }
        maxSessions = count("maxSessions", &reader)
        maxSessionsPerIP = count("maxSessionsPerIP", &reader)
        maxSessionsPerUser = count("maxSessionsPerUser", &reader)
        maxUDPAssociations = count("maxUDPAssociations", &reader)
        newSessionsPerIP = members["newSessionsPerIP"].flatMap { value, path in
            reader.parsed(value, at: path, "a rate such as \"20/s\"") { text throws(SessionRate.InvalidRate) in try SessionRate(parsing: text) }
        }
        authFailures = members["authFailures"].flatMap { value, path in
            reader.integer(value, at: path, in: ConfigurationFile.authFailuresRange)
        }
    }
}
