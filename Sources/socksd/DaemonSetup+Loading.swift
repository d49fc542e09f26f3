import AsyncSockets
import Foundation
import SOCKSProtocol
import SOCKSServer

extension DaemonSetup {
    /// One run of `load`: the settings so far and the problems found so far.
    struct Loading {
        let options: CommandLineOptions
        /// The file's document; `nil` without `--config`. After problems in the file, it holds what could be
        /// read, so that what it names is still checked.
        var file: ConfigurationFile?
        var problems: [ConfigurationProblem] = []
        var settings = DaemonSettings(
            server: SOCKSServer.Configuration(), logLevel: .info, logFile: nil, logFormat: .text, metricsListen: [],
            endSessionsOfRemovedUsers: false, spinMicroseconds: DaemonSettings.defaultSpinMicroseconds, drainTimeout: .seconds(3600), warnings: [])

        init(options: CommandLineOptions) {
            self.options = options
        }

        mutating func load() async {
            readFile()
            var server = SOCKSServer.Configuration()
            server.handshakeTimeout = options.handshakeTimeout ?? file?.timeouts.handshake ?? server.handshakeTimeout
            server.connectTimeout = options.connectTimeout ?? file?.timeouts.connect ?? server.connectTimeout
            server.idleTimeout = options.idleTimeout ?? file?.timeouts.idle ?? server.idleTimeout
            server.udpTimeout = options.udpTimeout ?? file?.timeouts.udp ?? server.udpTimeout
            server.bindTimeout = options.bindTimeout ?? file?.timeouts.bind ?? server.bindTimeout
            settings.drainTimeout = options.drainTimeout ?? file?.timeouts.drain ?? settings.drainTimeout
            server.udpFullCone = options.udpFullCone || (file?.udp.fullCone ?? server.udpFullCone)
            server.allowOpenProxy = options.allowOpenProxy || (file?.allowOpenProxy ?? server.allowOpenProxy)
            server.allowFrom = !options.allowFrom.isEmpty ? options.allowFrom : file?.allowFrom ?? server.allowFrom
            if !options.destinationRules.isEmpty {
                server.destinationRules = DestinationRules(options.destinationRules)
            } else if let rules = file?.rules {
                server.destinationRules = DestinationRules(rules)
            }
            server.maxSessions = options.maxSessions ?? file?.limits.maxSessions
            server.maxSessionsPerIP = options.maxSessionsPerIP ?? file?.limits.maxSessionsPerIP
            server.maxSessionsPerUser = options.maxSessionsPerUser ?? file?.limits.maxSessionsPerUser
            server.maxUDPAssociations = options.maxUDPAssociations ?? file?.limits.maxUDPAssociations
            server.newSessionsPerIP = options.newSessionsPerIP ?? file?.limits.newSessionsPerIP
            server.loginFailureLimit = options.authFailures ?? file?.limits.authFailures ?? server.loginFailureLimit

            let plainListeners = await readPlainListeners()
            let proxyListeners = await readProxyProtocolListeners()
            if let plainListeners {
                server.listenAddresses = plainListeners.flatMap(\.addresses)
            } else if !proxyListeners.isEmpty {
                // As with --listen, a PROXY listener given on the command line replaces the default one.
                server.listenAddresses = []
            }
            server.proxyProtocolListeners = proxyListeners.flatMap { entry, trusted in
                entry.addresses.map { ProxyProtocolListener(address: $0, trustedProxies: trusted) }
            }
            let defaultListeners = plainListeners == nil && proxyListeners.isEmpty
                ? server.listenAddresses.map { address in
                    ListenEntry(written: HostAndPort(host: address.ip.description, port: address.port), path: "the default listener", addresses: [address])
                }
                : []
            (server.users, server.userPolicies) = readUsers()
            server.gssapi = readGSSAPI()
            await readProtocols(into: &server)
            server.upstream = readUpstream()
            readRouting(into: &server)
            if let host = options.udpAdvertise ?? file?.udp.advertise {
                let path = options.udpAdvertise != nil ? "--udp-advertise" : "udp.advertise"
                do {
                    server.udpAdvertiseAddress = try await NameResolver.shared.resolve(host: host, port: 0).first?.ip
                } catch {
                    problems.append(ConfigurationProblem(path: path, reason: "cannot resolve '\(host)': \(error)", kind: .environment))
                }
            }
            readLog()
            let metrics = await readMetricsListen()
            settings.metricsListen = metrics.flatMap(\.addresses)
            // Flags first, then the file's listeners in the file's order, then the metrics endpoints: a clash
            // is reported at the later of the two.
            let listeners = (plainListeners ?? []) + proxyListeners.map(\.entry)
            let inOrder = listeners.enumerated().sorted { lhs, rhs in
                (lhs.element.fileIndex ?? -1, lhs.offset) < (rhs.element.fileIndex ?? -1, rhs.offset)
            }.map(\.element)
            problems += ListenEntry.clashes(defaultListeners + inOrder + metrics)
            settings.endSessionsOfRemovedUsers = file?.reload.endSessionsOfRemovedUsers ?? false
            settings.spinMicroseconds = options.spinMicroseconds ?? file?.performance.spinMicroseconds ?? DaemonSettings.defaultSpinMicroseconds
            server.logger = .standardError(level: settings.logLevel)
            settings.server = server
        }

        /// Reads and checks the configuration file, when there is one.
        private mutating func readFile() {
            guard let path = options.configFile else { return }
            let flag = options.mode == .checkConfig ? "--check-config" : "--config"
            let bytes: [UInt8]
            do {
                bytes = try DaemonSetup.readFile(path)
            } catch {
                problems.append(ConfigurationProblem(path: flag, reason: error.description, kind: .environment))
                return
            }
            let (document, fileProblems) = ConfigurationFile.read(json: bytes)
            file = document
            problems += fileProblems
        }

        /// The plain listeners, resolved: `--listen`, or else the file's plain `listeners`; `nil` when neither
        /// gives any (the default).
        private mutating func readPlainListeners() async -> [ListenEntry]? {
            if !options.listen.isEmpty {
                var entries: [ListenEntry] = []
                for address in options.listen { entries.append(await resolve(address, path: "--listen")) }
                return entries
            }
            guard let file, !file.listeners.isEmpty else { return nil }
            var entries: [ListenEntry] = []
            for (index, address) in file.listeners.enumerated() {
                let location = file.sourcePaths.listeners.indices.contains(index) ? file.sourcePaths.listeners[index] : nil
                entries.append(await resolve(address, path: location?.path ?? "listeners", fileIndex: location?.index))
            }
            return entries
        }

        /// The PROXY protocol listeners, resolved, each with the balancers it trusts: `--proxy-protocol-listen`
        /// addresses each trusting the `--proxy-protocol-from` networks, or else the file's `listeners` with
        /// `"proxyProtocol": true` (whose `trustedProxies` a `--proxy-protocol-from` replaces).
        private mutating func readProxyProtocolListeners() async -> [(entry: ListenEntry, trusted: [IPNetwork])] {
            guard !options.proxyProtocolListen.isEmpty else {
                let fileListeners = file?.proxyProtocolListeners ?? []
                if !options.proxyProtocolFrom.isEmpty && fileListeners.isEmpty {
                    problems.append(ConfigurationProblem(path: "--proxy-protocol-from", reason: "needs --proxy-protocol-listen"))
                }
                var listeners: [(ListenEntry, [IPNetwork])] = []
                for (index, listener) in fileListeners.enumerated() {
                    let trusted = options.proxyProtocolFrom.isEmpty ? listener.trustedProxies : options.proxyProtocolFrom
                    let locations = file?.sourcePaths.proxyProtocolListeners ?? []
                    let location = locations.indices.contains(index) ? locations[index] : nil
                    let entry = await resolve(
                        listener.address, path: location?.path ?? "listeners", fileIndex: location?.index)
                    listeners.append((entry, trusted))
                }
                return listeners
            }
            guard !options.proxyProtocolFrom.isEmpty else {
                problems.append(ConfigurationProblem(
                    path: "--proxy-protocol-listen",
                    reason: "needs --proxy-protocol-from CIDR naming the balancers that may send PROXY headers (anyone else could claim any client address)"))
                return []
            }
            var listeners: [(ListenEntry, [IPNetwork])] = []
            for address in options.proxyProtocolListen {
                listeners.append((await resolve(address, path: "--proxy-protocol-listen"), options.proxyProtocolFrom))
            }
            return listeners
        }

        /// The metrics endpoints' addresses, resolved: `--metrics-listen`, or else the file's `metrics.listen`.
        private mutating func readMetricsListen() async -> [ListenEntry] {
            var entries: [ListenEntry] = []
            guard options.metricsListen.isEmpty else {
                for address in options.metricsListen { entries.append(await resolve(address, path: "--metrics-listen")) }
                return entries
            }
            for (index, address) in (file?.metrics.listen ?? []).enumerated() {
                let locations = file?.sourcePaths.metricsListen ?? []
                let path = locations.indices.contains(index) ? locations[index].path : "metrics.listen"
                entries.append(await resolve(address, path: path))
            }
            return entries
        }

        /// One address to listen on, resolved (each address it resolves to once); a name that does not resolve
        /// is a problem at `path`, and its entry has no addresses.
        private mutating func resolve(_ name: HostAndPort, path: String, fileIndex: Int? = nil) async -> ListenEntry {
            var entry = ListenEntry(written: name, path: path, fileIndex: fileIndex)
            entry.addresses = await resolve([name], path: path)
            return entry
        }

        /// What the listeners accept: `--protocols` for all of them, or else the file's `protocols` and its
        /// listeners' own. SOCKS4 beside required logins is a problem: it carries no password.
        private mutating func readProtocols(into server: inout SOCKSServer.Configuration) async {
            if let protocols = options.protocols {
                server.protocols = protocols
            } else if let file {
                server.protocols = file.protocols ?? server.protocols
                for (listener, protocols) in file.listenerProtocols.sorted(by: { $0.key.description < $1.key.description }) {
                    for address in await resolve([listener], path: "listeners") { server.listenerProtocols[address] = protocols }
                }
            }
            guard server.requiresLogin else { return }
            let reason = "SOCKS4 carries no password, so it cannot be offered while users must log in: remove socks4, or the users"
            if options.protocols != nil || file?.protocols != nil, server.protocols.contains(.socks4) {
                problems.append(ConfigurationProblem(path: options.protocols != nil ? "--protocols" : "protocols", reason: reason))
            }
            if options.protocols == nil, let file {
                // Each at the path of the listener's own `protocols` value, in the file's order.
                let offering = file.listenerProtocols.filter { $0.value.contains(.socks4) }.map { listener, _ in
                    (listener, file.sourcePaths.listenerProtocols[listener])
                }
                for (listener, location) in offering.sorted(by: { ($0.1?.index ?? -1, $0.0.description) < ($1.1?.index ?? -1, $1.0.description) }) {
                    problems.append(ConfigurationProblem(path: location?.path ?? "listeners", reason: location == nil ? "\(listener) offers socks4: \(reason)" : reason))
                }
            }
        }

        /// Every address the names resolve to, in order, each once per name: two names may give one address
        /// (`ListenEntry.clashes` tells whether that is a problem).
        private mutating func resolve(_ names: [HostAndPort], path: String) async -> [SocketAddress] {
            var addresses: [SocketAddress] = []
            for name in names {
                do {
                    var ofName: [SocketAddress] = []
                    for address in try await NameResolver.shared.resolve(host: name.host, port: name.port) where !ofName.contains(address) {
                        ofName.append(address)
                    }
                    addresses += ofName
                } catch {
                    problems.append(ConfigurationProblem(path: path, reason: "cannot resolve '\(name)': \(error)", kind: .environment))
                }
            }
            return addresses
        }

        /// The users (the users file's, then the inline ones over them) and the inline users' policies. `--user`
        /// replaces the file's `users`, their policies with them; `--users-file` replaces its `usersFile`.
        private mutating func readUsers() -> (UserDatabase?, [String: UserPolicy]) {
            var database: UserDatabase?
            var policies: [String: UserPolicy] = [:]
            let usersFile = options.usersFile ?? file?.usersFile
            let usersFilePath = options.usersFile != nil ? "--users-file" : "usersFile"
            if let usersFile {
                do {
                    let text = try DaemonSetup.readText(usersFile)
                    do {
                        database = try UserDatabase(usersFile: text)
                    } catch {
                        problems.append(ConfigurationProblem(path: usersFilePath, reason: "\(usersFile): \(error)", kind: .environment))
                    }
                } catch {
                    problems.append(ConfigurationProblem(path: usersFilePath, reason: error.description, kind: .environment))
                }
            }
            if !options.users.isEmpty {
                for (name, password) in options.users {
                    do {
                        let user = try UserDatabase([name: password])
                        if database == nil { database = user } else { database?.merge(user) }
                    } catch {
                        problems.append(ConfigurationProblem(path: "--user", reason: error.reason))
                    }
                }
                settings.warnings.append("--user puts passwords on the command line, where other local users can read them; use --users-file")
            } else if let users = file?.userDatabase {
                if database == nil { database = users } else { database?.merge(users) }
                policies = file?.userPolicies ?? [:]
            }
            readPAM(into: &database)
            if let usersFile, let database, database.count == 0, database.pam == nil {
                problems.append(ConfigurationProblem(
                    path: usersFilePath, reason: "\(usersFile) lists no users; refusing to start with a login nobody can pass", kind: .environment))
            }
            return (database, policies)
        }

        /// The PAM service (`--pam-service`, or else `pam.service`, read from `--pam-confdir`, or else
        /// `pam.confdir`), set on `database` (an empty one when there are no users): libpam that cannot be
        /// loaded, or a confdir without the service's file, is a problem.
        private mutating func readPAM(into database: inout UserDatabase?) {
            let confdir = options.pamConfdir ?? file?.pam.confdir
            let confdirPath = options.pamConfdir != nil ? "--pam-confdir" : "pam.confdir"
            guard let service = options.pamService ?? file?.pam.service else {
                if confdir != nil {
                    problems.append(ConfigurationProblem(path: confdirPath, reason: "needs --pam-service (or pam.service in the configuration file)"))
                }
                return
            }
            let servicePath = options.pamService != nil ? "--pam-service" : "pam.service"
            do {
                let pam = try PAMService(name: service, configurationDirectory: confdir)
                if database == nil { database = try? UserDatabase([:]) }
                database?.pam = pam
            } catch {
                switch error {
                case .invalidName:
                    problems.append(ConfigurationProblem(path: servicePath, reason: error.description))
                case .libpamUnavailable:
                    // Invalid rather than environment, so that start-up exits 64 as --check-config does: a
                    // configuration that asks for PAM on a host without it cannot be used until it changes.
                    problems.append(ConfigurationProblem(path: servicePath, reason: error.description))
                case .configurationDirectoryUnsupported, .serviceFileMissing:
                    problems.append(ConfigurationProblem(path: confdirPath, reason: error.description, kind: .environment))
                }
            }
        }

        /// GSS-API logins (`--gssapi-keytab`, or else `gssapi.keytab`, with the service and protection from
        /// their flags or else the file): a library that cannot be loaded or a service name that is none is a
        /// problem (exit 64, as --check-config), a keytab that cannot be read or holds no key for the service
        /// a problem of the host.
        private mutating func readGSSAPI() -> GSSAPIAcceptor? {
            let service = options.gssapiService ?? file?.gssapi.service
            let protection = options.gssapiProtection ?? file?.gssapi.protection
            guard let keytab = options.gssapiKeytab ?? file?.gssapi.keytab else {
                if service != nil || protection != nil {
                    let path = options.gssapiService != nil ? "--gssapi-service" : options.gssapiProtection != nil ? "--gssapi-protection" : "gssapi"
                    problems.append(ConfigurationProblem(path: path, reason: "needs --gssapi-keytab (or gssapi.keytab in the configuration file)"))
                }
                return nil
            }
            let keytabPath = options.gssapiKeytab != nil ? "--gssapi-keytab" : "gssapi.keytab"
            let servicePath = options.gssapiService != nil ? "--gssapi-service" : "gssapi.service"
            do {
                return try GSSAPIAcceptor(keytab: keytab, service: service ?? "rcmd", minimumProtection: protection ?? .none)
            } catch {
                switch error {
                case .invalidService:
                    problems.append(ConfigurationProblem(path: servicePath, reason: error.description))
                case .libraryUnavailable:
                    problems.append(ConfigurationProblem(path: keytabPath, reason: error.description))
                case .keytabUnreadable, .credentialUnavailable:
                    problems.append(ConfigurationProblem(path: keytabPath, reason: error.description, kind: .environment))
                }
                return nil
            }
        }

        /// The upstream: its URL, password file and UDP transport each from its flag or else from the file.
        private mutating func readUpstream() -> UpstreamProxy? {
            var transport = options.upstreamUDP ?? .udpOverTCP(.v2)
            if options.upstreamUDP == nil, let name = file?.upstream?.udp {
                if let named = UpstreamProxy.UDPTransport(name: name) {
                    transport = named
                } else {
                    problems.append(ConfigurationProblem(path: "upstream.udp", reason: "must be uot, uot1 or associate, not '\(name)'"))
                }
            }
            let passwordFile = options.upstreamPasswordFile ?? file?.upstream?.passwordFile
            let passwordFilePath = options.upstreamPasswordFile != nil ? "--upstream-password-file" : "upstream.passwordFile"
            guard let url = options.upstream ?? file?.upstream?.url else {
                if options.upstreamPasswordFile != nil {
                    problems.append(
                        ConfigurationProblem(path: "--upstream-password-file", reason: "needs --upstream (or upstream.url in the configuration file)"))
                }
                return nil
            }
            let urlPath = options.upstream != nil ? "--upstream" : "upstream.url"
            let password: String?
            do {
                password = try upstreamPassword(file: passwordFile, url: url)
            } catch {
                problems.append(ConfigurationProblem(path: passwordFilePath, reason: error.description, kind: .environment))
                return nil
            }
            do {
                let upstream = try UpstreamProxy(url: url, udpTransport: transport, password: password)
                // A password in the file is no more visible than the file; one on the command line is.
                if options.upstream != nil, DaemonSetup.urlCarriesPassword(url) {
                    settings.warnings.append(
                        "the --upstream password is on the command line, where other local users can read it; use --upstream-password-file or SOCKSD_UPSTREAM_PASSWORD")
                }
                return upstream
            } catch {
                let passwordSource = options.upstream != nil ? "--upstream-password-file" : "upstream.passwordFile"
                let hint = password == nil ? " (give the password with \(passwordSource) or SOCKSD_UPSTREAM_PASSWORD)" : ""
                problems.append(ConfigurationProblem(path: urlPath, reason: "\(error)\(hint)"))
                return nil
            }
        }

        /// The named upstreams (`--upstream NAME=URL`, replacing the file's `upstreams`), the routes (`--route`,
        /// replacing `routes`; users' routes from the file), the health settings; a route naming an unknown
        /// upstream is a problem, an upstream no route uses a warning.
        private mutating func readRouting(into server: inout SOCKSServer.Configuration) {
            server.upstreamFailureLimit = options.upstreamFailures ?? file?.upstreamHealth.failures ?? server.upstreamFailureLimit
            server.upstreamProbeInterval = options.upstreamProbeInterval ?? file?.upstreamHealth.probeInterval ?? server.upstreamProbeInterval
            var written: [(name: String, url: String, passwordFile: String?, udp: String?, path: String)] = []
            if !options.namedUpstreams.isEmpty {
                for (name, url) in options.namedUpstreams {
                    if written.contains(where: { $0.name == name }) {
                        problems.append(ConfigurationProblem(path: "--upstream", reason: "'\(name)' is given twice"))
                    }
                    written.append((name, url, options.namedUpstreamPasswordFiles[name], nil, "--upstream"))
                }
            } else {
                for (name, upstream) in (file?.upstreams ?? [:]).sorted(by: { $0.key < $1.key }) {
                    let path = "upstreams.\(name)"
                    written.append((name, upstream.url, options.namedUpstreamPasswordFiles[name] ?? upstream.passwordFile, upstream.udp, path))
                }
            }
            for name in options.namedUpstreamPasswordFiles.keys.sorted() where !written.contains(where: { $0.name == name }) {
                problems.append(ConfigurationProblem(path: "--upstream-password-file", reason: "names '\(name)', which is no upstream"))
            }
            for name in options.namedUpstreamUDP.keys.sorted() where !written.contains(where: { $0.name == name }) {
                problems.append(ConfigurationProblem(path: "--upstream-udp", reason: "names '\(name)', which is no upstream"))
            }
            for entry in written {
                var transport = options.namedUpstreamUDP[entry.name] ?? .udpOverTCP(.v2)
                if options.namedUpstreamUDP[entry.name] == nil, let udp = entry.udp {
                    if let named = UpstreamProxy.UDPTransport(name: udp) {
                        transport = named
                    } else {
                        problems.append(ConfigurationProblem(path: "\(entry.path).udp", reason: "must be uot, uot1 or associate, not '\(udp)'"))
                    }
                }
                let urlPath = entry.path == "--upstream" ? "--upstream" : "\(entry.path).url"
                let password: String?
                do {
                    password = try upstreamPassword(file: entry.passwordFile, url: entry.url, environment: Self.passwordVariable(of: entry.name))
                } catch {
                    problems.append(ConfigurationProblem(path: entry.path == "--upstream" ? "--upstream-password-file" : "\(entry.path).passwordFile", reason: error.description, kind: .environment))
                    continue
                }
                do {
                    server.upstreams[entry.name] = try UpstreamProxy(url: entry.url, udpTransport: transport, password: password)
                    if entry.path == "--upstream", DaemonSetup.urlCarriesPassword(entry.url) {
                        settings.warnings.append(
                            "the password of upstream \(entry.name) is on the command line, where other local users can read it; use --upstream-password-file \(entry.name)=FILE or \(Self.passwordVariable(of: entry.name))")
                    }
                } catch {
                    problems.append(ConfigurationProblem(path: urlPath, reason: "\(error)"))
                }
            }
            var routeSources: [(route: Route, path: String)] = []
            if !options.routes.isEmpty {
                server.routes = options.routes
                routeSources = options.routes.map { ($0, "--route") }
            } else if let routes = file?.routes {
                server.routes = routes
                routeSources = routes.enumerated().map { ($1, "routes[\($0)].via") }
            }
            for (user, policy) in server.userPolicies.sorted(by: { $0.key < $1.key }) {
                routeSources += policy.routes.enumerated().map { ($1, "users.\(user).routes[\($0)].via") }
            }
            let known = Set(server.upstreams.keys).union(server.upstream == nil ? [] : ["default"])
            // Names whose upstream had a problem of its own are not reported again as unknown.
            let mentioned = Set(written.map(\.name))
            var used: Set<String> = []
            for (route, path) in routeSources {
                for name in route.upstreamNames {
                    used.insert(name)
                    if !known.contains(name) && !mentioned.contains(name) {
                        problems.append(ConfigurationProblem(path: path, reason: "unknown upstream '\(name)'"))
                    }
                }
            }
            for name in server.upstreams.keys.sorted() where !used.contains(name) {
                settings.warnings.append("upstream '\(name)' is used by no route")
            }
        }

        /// The environment variable of a named upstream's password: `SOCKSD_UPSTREAM_PASSWORD_NAME`, the name
        /// upper-cased with `-` (and `.`) as `_`.
        static func passwordVariable(of name: String) -> String {
            "SOCKSD_UPSTREAM_PASSWORD_" + String(name.uppercased().map { $0 == "-" || $0 == "." ? "_" : $0 })
        }

        /// The upstream password from the password file (its first line) or, without one, from the
        /// `SOCKSD_UPSTREAM_PASSWORD` environment variable; nil when neither is given.
        private func upstreamPassword(
            file path: String?, url: String, environment variable: String = "SOCKSD_UPSTREAM_PASSWORD"
        ) throws(DaemonSetup.FileError) -> String? {
            if let path {
                let text = try DaemonSetup.readText(path)
                guard let line = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).first, !line.isEmpty else {
                    throw DaemonSetup.FileError(description: "\(path) is empty")
                }
                return String(line)
            }
            // The environment is ambient (a shell profile may set it for every run): a URL that carries its own
            // password wins over it, where a password file given beside it would be a contradiction.
            if DaemonSetup.urlCarriesPassword(url) { return nil }
            if let password = ProcessInfo.processInfo.environment[variable], !password.isEmpty {
                return password
            }
            return nil
        }

        /// The log's level, file and format.
        private mutating func readLog() {
            if let level = options.logLevel {
                settings.logLevel = level
            } else if let name = file?.log.level {
                if let level = SOCKSLogger.Level(name: name) {
                    settings.logLevel = level
                } else {
                    problems.append(ConfigurationProblem(path: "log.level", reason: "must be debug, info, warning or error, not '\(name)'"))
                }
            }
            settings.logFile = options.logFile ?? file?.log.file
            if let format = options.logFormat {
                settings.logFormat = format
            } else if let name = file?.log.format {
                if let format = LogFormat(rawValue: name) {
                    settings.logFormat = format
                } else {
                    problems.append(ConfigurationProblem(path: "log.format", reason: "must be text or json, not '\(name)'"))
                }
            }
        }
    }
}
