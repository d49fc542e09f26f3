import AsyncSockets

extension ConfigurationFile {
    /// The document as JSON, keys in the README's order and users by name, every value in the form that
    /// reads back to it (`init(json:)` of this text gives an equal document): addresses, networks and rule
    /// targets in their canonical form, timeouts in seconds to the millisecond. Passwords are written as
    /// they were read: this is the configuration, secrets included.
    package var json: String { jsonValue.text + "\n" }

    package var jsonValue: JSONValue {
        let proxyListeners: [JSONValue] = proxyProtocolListeners.map { listener in
            .object([
                JSONValue.Member("address", .string(listener.address.description)),
                JSONValue.Member("proxyProtocol", .bool(true)),
                JSONValue.Member("trustedProxies", .array(listener.trustedProxies.map { .string($0.description) })),
                listenerProtocols[listener.address].map { JSONValue.Member("protocols", Self.jsonValue(of: $0)) },
            ].compactMap { $0 })
        }
        let plainListeners: [JSONValue] = listeners.map { address in
            guard let own = listenerProtocols[address] else { return .string(address.description) }
            return .object([JSONValue.Member("address", .string(address.description)), JSONValue.Member("protocols", Self.jsonValue(of: own))])
        }
        var top: [JSONValue.Member] = [JSONValue.Member("listeners", .array(plainListeners + proxyListeners))]
        if let protocols {
            top.append(JSONValue.Member("protocols", Self.jsonValue(of: protocols)))
        }
        if let users {
            top.append(JSONValue.Member("users", .object(users.sorted { $0.key < $1.key }.map { JSONValue.Member($0.key, $0.value.jsonValue) })))
        }
        top.append(contentsOf: [
            usersFile.map { JSONValue.Member("usersFile", .string($0)) },
            Self.section("pam", [
                pam.service.map { JSONValue.Member("service", .string($0)) },
                pam.confdir.map { JSONValue.Member("confdir", .string($0)) },
            ]),
            Self.section("gssapi", [
                gssapi.keytab.map { JSONValue.Member("keytab", .string($0)) },
                gssapi.service.map { JSONValue.Member("service", .string($0)) },
                gssapi.protection.map { JSONValue.Member("protection", .string($0.description)) },
            ]),
            allowFrom.map { JSONValue.Member("allowFrom", .array($0.map { .string($0.description) })) },
            allowOpenProxy.map { JSONValue.Member("allowOpenProxy", .bool($0)) },
            rules.map { JSONValue.Member("rules", Self.jsonValue(of: $0)) },
            Self.section("limits", [
                limits.maxSessions.map { JSONValue.Member("maxSessions", .number("\($0)")) },
                limits.maxSessionsPerIP.map { JSONValue.Member("maxSessionsPerIP", .number("\($0)")) },
                limits.maxSessionsPerUser.map { JSONValue.Member("maxSessionsPerUser", .number("\($0)")) },
                limits.maxUDPAssociations.map { JSONValue.Member("maxUDPAssociations", .number("\($0)")) },
                limits.newSessionsPerIP.map { JSONValue.Member("newSessionsPerIP", .string($0.description)) },
                limits.authFailures.map { JSONValue.Member("authFailures", .number("\($0)")) },
            ]),
            Self.section("timeouts", [
                timeouts.handshake.map { JSONValue.Member("handshake", Self.seconds($0)) },
                timeouts.connect.map { JSONValue.Member("connect", Self.seconds($0)) },
                timeouts.idle.map { JSONValue.Member("idle", Self.seconds($0)) },
                timeouts.udp.map { JSONValue.Member("udp", Self.seconds($0)) },
                timeouts.bind.map { JSONValue.Member("bind", Self.seconds($0)) },
                timeouts.drain.map { JSONValue.Member("drain", Self.seconds($0)) },
            ]),
            Self.section("udp", [
                udp.advertise.map { JSONValue.Member("advertise", .string($0)) },
                udp.fullCone.map { JSONValue.Member("fullCone", .bool($0)) },
            ]),
            upstream.map { JSONValue.Member("upstream", $0.jsonValue) },
            upstreams.map { upstreams in
                JSONValue.Member("upstreams", .object(upstreams.sorted { $0.key < $1.key }.map { JSONValue.Member($0.key, $0.value.jsonValue) }))
            },
            routes.map { JSONValue.Member("routes", Self.jsonValue(of: $0)) },
            Self.section("upstreamHealth", [
                upstreamHealth.failures.map { JSONValue.Member("failures", .number("\($0)")) },
                upstreamHealth.probeInterval.map { JSONValue.Member("probeInterval", Self.seconds($0)) },
            ]),
            Self.section("log", [
                log.level.map { JSONValue.Member("level", .string($0)) },
                log.file.map { JSONValue.Member("file", .string($0)) },
                log.format.map { JSONValue.Member("format", .string($0)) },
            ]),
            Self.section("metrics", [metrics.listen.map { JSONValue.Member("listen", .array($0.map { .string($0.description) })) }]),
            Self.section("reload", [reload.endSessionsOfRemovedUsers.map { JSONValue.Member("endSessionsOfRemovedUsers", .bool($0)) }]),
            Self.section("performance", [performance.spinMicroseconds.map { JSONValue.Member("spinMicroseconds", .number("\($0)")) }]),
        ].compactMap { $0 })
        return .object(top)
    }

    /// A section with the members given, or none when it would be empty.
    private static func section(_ key: String, _ members: [JSONValue.Member?]) -> JSONValue.Member? {
        let present = members.compactMap { $0 }
        return present.isEmpty ? nil : JSONValue.Member(key, .object(present))
    }

    /// Protocol names in the canonical order.
    fileprivate static func jsonValue(of protocols: Set<ClientProtocol>) -> JSONValue {
        .array(protocols.sorted().map { .string($0.rawValue) })
    }

    fileprivate static func jsonValue(of rules: [DestinationRule]) -> JSONValue {
        .array(rules.map { rule in .object([JSONValue.Member(rule.action == .allow ? "allow" : "deny", .string(rule.target))]) })
    }

    fileprivate static func jsonValue(of routes: [Route]) -> JSONValue {
        .array(routes.map { route in
            let via: JSONValue
            switch route.via {
            case .direct: via = .string("direct")
            case .upstreams(let names): via = names.count == 1 ? .string(names[0]) : .array(names.map { .string($0) })
            }
            return .object([
                JSONValue.Member("to", .string(route.target.target)),
                JSONValue.Member("via", via),
                route.strategy == .failover ? nil : JSONValue.Member("strategy", .string(route.strategy.rawValue)),
            ].compactMap { $0 })
        })
    }

    /// Seconds as the shortest decimal that is the duration to the millisecond: `10`, `1.5`, `0.25`.
    private static func seconds(_ duration: Duration) -> JSONValue {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let fraction = milliseconds % 1000
        guard fraction != 0 else { return .number("\(milliseconds / 1000)") }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return .number("\(milliseconds / 1000).\(digits)")
    }
}

extension ConfigurationFile.User {
    /// A bare string for a user with no settings of its own, an object otherwise.
    fileprivate var jsonValue: JSONValue {
        guard policy != nil else { return .string(password) }
        return .object([
            JSONValue.Member("password", .string(password)),
            rules.isEmpty ? nil : JSONValue.Member("rules", ConfigurationFile.jsonValue(of: rules)),
            maxSessions.map { JSONValue.Member("maxSessions", .number("\($0)")) },
            bandwidth.map { JSONValue.Member("bandwidth", .number("\($0)")) },
            routes.isEmpty ? nil : JSONValue.Member("routes", ConfigurationFile.jsonValue(of: routes)),
        ].compactMap { $0 })
    }
}

extension ConfigurationFile.Upstream {
    fileprivate var jsonValue: JSONValue {
        .object([
            JSONValue.Member("url", .string(url)),
            passwordFile.map { JSONValue.Member("passwordFile", .string($0)) },
            udp.map { JSONValue.Member("udp", .string($0)) },
        ].compactMap { $0 })
    }
}
