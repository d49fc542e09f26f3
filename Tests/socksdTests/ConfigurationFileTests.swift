import AsyncSockets
import Foundation
import SOCKSProtocol
import SOCKSServer
import Testing

/// `ConfigurationFile`, the reader of `--config FILE`: every key, every kind of problem with its exact
/// path, and the JSON reader under it. (The reader lives in SOCKSServer, under Configuration/, so that the
/// fuzz build can compile it without the event loop; `DaemonSetupTests` covers the daemon's side.)
@Suite struct ConfigurationFileTests {
    static func read(_ text: String) -> (file: ConfigurationFile, problems: [String]) {
        let (file, problems) = ConfigurationFile.read(json: Array(text.utf8))
        return (file, problems.map(\.description))
    }

    // MARK: Documents that read

    @Test func theSmallestFileReads() throws {
        let file = try ConfigurationFile(json: Array(#"{"listeners": ["127.0.0.1:1080"], "users": {"alice": "secret"}}"#.utf8))
        #expect(file.listeners == [HostAndPort(host: "127.0.0.1", port: 1080)])
        #expect(file.userDatabase?.usernames == ["alice"])
        #expect(file.userPolicies.isEmpty)
        #expect(file.usersFile == nil && file.rules == nil && file.allowFrom == nil && file.upstream == nil)
        #expect(file.limits.maxSessions == nil && file.limits.authFailures == nil && file.timeouts.handshake == nil && file.timeouts.idle == nil)
    }

    static let everyKey = """
        {
          "listeners": ["127.0.0.1:1080", {"address": "[::1]:1081"}],
          "users": {"alice": "secret",
                    "carol": {"password": "pw", "rules": [{"allow": "intranet.example"}, {"deny": "*:25"}], "maxSessions": 5, "bandwidth": 1048576}},
          "usersFile": "/etc/socksd/users",
          "pam": {"service": "socksd", "confdir": "/etc/socksd/pam.d"},
          "gssapi": {"keytab": "/etc/socksd/socksd.keytab", "service": "rcmd", "protection": "integrity"},
          "allowFrom": ["203.0.113.0/24"],
          "allowOpenProxy": false,
          "rules": [{"deny": "private"}, {"allow": "example.com:443"}],
          "limits": {"maxSessions": 10000, "maxSessionsPerIP": 200, "maxSessionsPerUser": 100,
                     "maxUDPAssociations": 1000, "newSessionsPerIP": "20/s", "authFailures": 0},
          "timeouts": {"handshake": 10, "connect": 2.5, "idle": 600, "udp": 300, "bind": 0.001, "drain": 120},
          "udp": {"advertise": "198.51.100.7", "fullCone": true},
          "upstream": {"url": "socks5://user@host:1080", "passwordFile": "/etc/socksd/upstream-password", "udp": "uot1"},
          "log": {"level": "debug", "file": "/var/log/socksd.log", "format": "json"},
          "metrics": {"listen": "127.0.0.1:9150"},
          "reload": {"endSessionsOfRemovedUsers": true},
          "performance": {"spinMicroseconds": 20}
        }
        """

    @Test func everyKeyReads() throws {
        let file = try ConfigurationFile(json: Array(Self.everyKey.utf8))
        #expect(file.listeners == [HostAndPort(host: "127.0.0.1", port: 1080), HostAndPort(host: "::1", port: 1081)])
        #expect(file.users?.keys.sorted() == ["alice", "carol"])
        #expect(file.userDatabase?.usernames == ["alice", "carol"])
        let carol = try #require(file.users?["carol"])
        #expect(carol.password == "pw" && carol.maxSessions == 5 && carol.bandwidth == 1_048_576)
        #expect(carol.rules == [try DestinationRule(action: .allow, parsing: "intranet.example"), try DestinationRule(action: .deny, parsing: "*:25")])
        #expect(file.userPolicies == ["carol": UserPolicy(destinationRules: DestinationRules(carol.rules), maxSessions: 5, bandwidthLimit: 1_048_576)])
        #expect(file.usersFile == "/etc/socksd/users")
        #expect(file.pam.service == "socksd" && file.pam.confdir == "/etc/socksd/pam.d")
        #expect(file.gssapi.keytab == "/etc/socksd/socksd.keytab" && file.gssapi.service == "rcmd" && file.gssapi.protection == .integrity)
        #expect(file.allowFrom == [try IPNetwork(parsing: "203.0.113.0/24")])
        #expect(file.allowOpenProxy == false)
        #expect(file.rules == [try DestinationRule(action: .deny, parsing: "private"), try DestinationRule(action: .allow, parsing: "example.com:443")])
        #expect(file.limits.maxSessions == 10000 && file.limits.maxSessionsPerIP == 200 && file.limits.maxSessionsPerUser == 100)
        #expect(file.limits.maxUDPAssociations == 1000 && file.limits.newSessionsPerIP == SessionRate(count: 20, per: .seconds(1)))
        #expect(file.limits.authFailures == 0)
        #expect(file.timeouts.handshake == .seconds(10) && file.timeouts.connect == .milliseconds(2500) && file.timeouts.idle == .seconds(600))
        #expect(file.timeouts.udp == .seconds(300) && file.timeouts.bind == .milliseconds(1) && file.timeouts.drain == .seconds(120))
        #expect(file.udp.advertise == "198.51.100.7" && file.udp.fullCone == true)
        #expect(file.upstream?.url == "socks5://user@host:1080" && file.upstream?.passwordFile == "/etc/socksd/upstream-password")
        #expect(file.upstream?.udp == "uot1")
        #expect(file.log.level == "debug" && file.log.file == "/var/log/socksd.log" && file.log.format == "json")
        #expect(file.metrics.listen == [HostAndPort(host: "127.0.0.1", port: 9150)])
        #expect(file.reload.endSessionsOfRemovedUsers == true)
        #expect(file.performance.spinMicroseconds == 20)
    }

    /// `json` writes a document that reads back equal, and writes the same text again.
    @Test func aDocumentReSerialises() throws {
        let file = try ConfigurationFile(json: Array(Self.everyKey.utf8))
        let reread = try ConfigurationFile(json: Array(file.json.utf8))
        #expect(reread == file)
        #expect(reread.json == file.json)
        #expect(file.json.contains(#""connect": 2.5"#) && file.json.contains(#""bind": 0.001"#), "\(file.json)")
        #expect(file.json.contains(#""alice": "secret""#) && file.json.contains(#""listeners": ["127.0.0.1:1080", "[::1]:1081"]"#))
    }

    /// The forms a key may take: a listener as an object, metrics.listen as an array, a user as an object
    /// with only a password (the same as the bare string), an empty `users` beside a `usersFile`.
    @Test func alternativeForms() throws {
        let (file, problems) = Self.read("""
            {"listeners": [{"address": "127.0.0.1:0"}], "users": {"bob": {"password": "pw"}},
             "metrics": {"listen": ["127.0.0.1:9150", "[::1]:9150"]}}
            """)
        #expect(problems == [])
        #expect(file.users?["bob"]?.password == "pw" && file.users?["bob"]?.rules == [] && file.userPolicies.isEmpty)
        #expect(file.metrics.listen?.count == 2)
        let (empty, emptyProblems) = Self.read(#"{"listeners": ["127.0.0.1:0"], "users": {}, "usersFile": "/u"}"#)
        #expect(emptyProblems == [])
        #expect(empty.userDatabase?.count == 0)
    }

    /// A crypt(3) hash is checked by libcrypt as the file is read.
    @Test func aHashIsCheckedWhenRead() throws {
        let hash = "$6$Yf8OurpQibkwTv1y$kGAO9u.cr./IW0kdSlqWan8fmYSu9WdkTVTLacMfd1kl1p7aOnEgUeKGv4AWOGvG6Hc0tVOrKOyOyUXU2t1hj1"
        let (good, goodProblems) = Self.read(#"{"listeners": ["127.0.0.1:0"], "users": {"bob": "\#(hash)"}}"#)
        #expect(goodProblems == [] && good.userDatabase?.count == 1)
        let (_, problems) = Self.read(#"{"listeners": ["127.0.0.1:0"], "users": {"bob": {"password": "$6$abc$def"}}}"#)
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("users.bob.password: the hash for bob ($6$) is not one libcrypt can check") == true, "\(problems)")
    }

    // MARK: Problems

    /// One problem each, with its exact path and reason.
    @Test(arguments: [
        (#"{}"#, #"listeners: required: the addresses to listen on, such as ["127.0.0.1:1080"]"#),
        (#"{"listeners": []}"#, #"listeners: must list at least one address, such as "127.0.0.1:1080""#),
        (#"{"listeners": "127.0.0.1:1080"}"#, #"listeners: must be an array of HOST:PORT strings or objects with an "address", not a string"#),
        (#"{"listeners": ["127.0.0.1:1080", {"address": "127.0.0.1:70000"}]}"#,
         "listeners[1].address: '127.0.0.1:70000' is not HOST:PORT with a port from 0 to 65535"),
        (#"{"listeners": [{"address": "127.0.0.1:1", "proxyProtocol": true}]}"#, "listeners[0].trustedProxies: required with proxyProtocol: the balancers that may send PROXY headers (anyone else could claim any client address)"),
        (#"{"listeners": [true]}"#, #"listeners[0]: must be a HOST:PORT string or an object with an "address", not true"#),
        (#"{"listeners": ["::1:80"]}"#, "listeners[0]: '::1:80' is not HOST:PORT (write IPv6 addresses as [ADDRESS]:PORT)"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {}}"#,
         "users: lists no users, and there is no usersFile or pam: nobody could log in (leave the key out for no login)"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"carol": {"password": "pw", "rules": [{"alow": "intranet.example"}]}}}"#,
         "users.carol.rules[0]: unknown key 'alow' (did you mean 'allow'?)"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"carol": {"rules": []}}}"#, "users.carol.password: required: the password or its crypt(3) hash"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"carol": {"password": 5}}}"#,
         "users.carol.password: must be a password or a crypt(3) hash, not the number 5"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"carol": ""}}"#, "users.carol: password must be 1 to 255 bytes"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"bob.smith": ["pw"]}}"#,
         #"users["bob.smith"]: must be a password (or crypt(3) hash) string, or an object with a "password", not an array"#),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"carol": {"password": "pw", "maxSessions": 0}}}"#,
         "users.carol.maxSessions: must be a whole number from 1 to 10000000, not 0"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"carol": {"password": "pw", "bandwidth": 1.5}}}"#,
         "users.carol.bandwidth: must be a whole number of bytes per second from 1 to 1099511627776, not 1.5"),
        (#"{"listeners": ["127.0.0.1:1"], "usersFile": ""}"#, "usersFile: must not be empty (leave the key out instead)"),
        (#"{"listeners": ["127.0.0.1:1"], "allowFrom": ["10.1.2.3/8"]}"#, "allowFrom[0]: '10.1.2.3/8' has host bits set; did you mean 10.0.0.0/8?"),
        (#"{"listeners": ["127.0.0.1:1"], "allowFrom": "10.0.0.0/8"}"#, "allowFrom: must be an array of networks (CIDR strings), not a string"),
        (#"{"listeners": ["127.0.0.1:1"], "allowOpenProxy": 1}"#, "allowOpenProxy: must be true or false, not the number 1"),
        (#"{"listeners": ["127.0.0.1:1"], "rules": [{"deny": "*.example.com"}]}"#,
         "rules[0].deny: '*.example.com' has a wildcard, which is not needed: 'example.com' already covers its subdomains"),
        (#"{"listeners": ["127.0.0.1:1"], "rules": [{"allow": "a", "deny": "b"}]}"#,
         "rules[0]: has both 'allow' and 'deny': a rule is one of them (write two rules)"),
        (#"{"listeners": ["127.0.0.1:1"], "rules": [{}]}"#, #"rules[0]: is empty: a rule is {"allow": TARGET} or {"deny": TARGET}"#),
        (#"{"listeners": ["127.0.0.1:1"], "rules": ["deny private"]}"#,
         "rules[0]: must be an object with the keys 'allow', 'deny', not a string"),
        (#"{"listeners": ["127.0.0.1:1"], "limits": {"maxSessionsPerIp": 5}}"#, "limits: unknown key 'maxSessionsPerIp' (did you mean 'maxSessionsPerIP'?)"),
        (#"{"listeners": ["127.0.0.1:1"], "limits": {"maxSessions": 1e3}}"#, "limits.maxSessions: must be a whole number from 1 to 10000000, not 1e3"),
        (#"{"listeners": ["127.0.0.1:1"], "limits": {"maxUDPAssociations": "5"}}"#,
         "limits.maxUDPAssociations: must be a whole number from 1 to 10000000, not a string"),
        (#"{"listeners": ["127.0.0.1:1"], "limits": {"newSessionsPerIP": "5/x"}}"#,
         "limits.newSessionsPerIP: a rate is COUNT/s, COUNT/m or COUNT/h with COUNT from 1 to 1000000, such as 20/s, not '5/x'"),
        (#"{"listeners": ["127.0.0.1:1"], "limits": {"authFailures": -1}}"#, "limits.authFailures: must be a whole number from 0 to 1000000, not -1"),
        (#"{"listeners": ["127.0.0.1:1"], "timeouts": {"idle": 0}}"#, "timeouts.idle: must be a number of seconds from 0.001 to 31536000, not 0"),
        (#"{"listeners": ["127.0.0.1:1"], "timeouts": {"connect": 1e400}}"#, "timeouts.connect: must be a number of seconds from 0.001 to 31536000, not 1e400"),
        (#"{"listeners": ["127.0.0.1:1"], "timeouts": {"bind": "60"}}"#, "timeouts.bind: must be a number of seconds from 0.001 to 31536000, not a string"),
        (#"{"listeners": ["127.0.0.1:1"], "timeouts": 10}"#,
         "timeouts: must be an object with the keys 'handshake', 'connect', 'idle', 'udp', 'bind', 'drain', not the number 10"),
        (#"{"listeners": ["127.0.0.1:1"], "udp": {"fullcone": true}}"#, "udp: unknown key 'fullcone' (did you mean 'fullCone'?)"),
        (#"{"listeners": ["127.0.0.1:1"], "udp": {"advertise": 7}}"#, "udp.advertise: must be a host name or address, not the number 7"),
        (#"{"listeners": ["127.0.0.1:1"], "upstream": {"udp": "uot"}}"#, "upstream.url: required: the upstream server, such as socks5://user@host:1080"),
        (#"{"listeners": ["127.0.0.1:1"], "upstream": {"url": "socks5://h:1", "password": "x"}}"#,
         "upstream: unknown key 'password' (did you mean 'passwordFile'?)"),
        (#"{"listeners": ["127.0.0.1:1"], "log": {"level": null}}"#, "log.level: must be debug, info, warning or error, not null"),
        (#"{"listeners": ["127.0.0.1:1"], "log": {"color": "no"}}"#, "log: unknown key 'color'"),
        (#"{"listeners": ["127.0.0.1:1"], "metrics": {"listen": ["127.0.0.1"]}}"#,
         "metrics.listen[0]: '127.0.0.1' is not HOST:PORT (write IPv6 addresses as [ADDRESS]:PORT)"),
        (#"{"listeners": ["127.0.0.1:1"], "metrics": {"listen": 9150}}"#,
         "metrics.listen: must be an array of HOST:PORT strings (or one such string), not the number 9150"),
        (#"{"listeners": ["127.0.0.1:1"], "reload": {"endSessionsOfRemovedUsers": "yes"}}"#,
         "reload.endSessionsOfRemovedUsers: must be true or false, not a string"),
        (#"{"listeners": ["127.0.0.1:1"], "performance": {"spinMicroseconds": 10001}}"#,
         "performance.spinMicroseconds: must be a whole number from 0 to 10000, not 10001"),
        (#"{"listeners": ["127.0.0.1:1"], "Listeners": []}"#, "$: unknown key 'Listeners' (did you mean 'listeners'?)"),
        (#"{"listeners": ["127.0.0.1:1"], "listeners": ["127.0.0.1:2"]}"#, "listeners: given more than once"),
        (#"{"listeners": ["127.0.0.1:1"], "users": {"a": "x", "a": "y"}}"#, "users.a: given more than once"),
        (#"["127.0.0.1:1080"]"#,
         "$: must be an object with the keys 'listeners', 'protocols', 'users', 'usersFile', 'pam', 'gssapi', 'allowFrom', 'allowOpenProxy', 'rules', 'limits', 'timeouts', "
            + "'udp', 'upstream', 'upstreams', 'routes', 'upstreamHealth', 'log', 'metrics', 'reload', 'performance', not an array"),
        ("{\"listeners\": [\"127.0.0.1:1\"], \"bad\\u0000key\\n\": 1}", "$: unknown key 'bad\\0key\\n'"),
    ])
    func oneProblem(document: String, problem: String) {
        let (_, problems) = Self.read(document)
        #expect(problems == [problem])
    }

    /// Every problem of a file is reported, not only the first, each once, in a fixed order: each object's
    /// unknown and repeated keys, then its values in the README's order.
    @Test func everyProblemIsReported() {
        let (_, problems) = Self.read("""
            {
              "listeners": ["127.0.0.1:1080", {"address": "127.0.0.1:70000"}],
              "users": {"alice": "secret", "carol": {"password": "pw", "rules": [{"alow": "intranet.example"}, {"deny": "*:25"}]}},
              "limits": {"maxSessions": 0, "sessions": 1},
              "timeouts": {"idle": -1},
              "log": {"level": "loud"},
              "colour": true
            }
            """)
        #expect(problems == [
            "$: unknown key 'colour'",
            "listeners[1].address: '127.0.0.1:70000' is not HOST:PORT with a port from 0 to 65535",
            "users.carol.rules[0]: unknown key 'alow' (did you mean 'allow'?)",
            "limits: unknown key 'sessions'",
            "limits.maxSessions: must be a whole number from 1 to 10000000, not 0",
            "timeouts.idle: must be a number of seconds from 0.001 to 31536000, not -1",
        ])
    }

    /// A document with problems still yields what could be read, so that the daemon can check what it names.
    @Test func whatCanBeReadIsKept() {
        let (file, problems) = Self.read(#"{"listeners": ["127.0.0.1:1", "x"], "log": {"level": "loud"}, "limits": {"maxSessions": 0, "authFailures": 3}}"#)
        #expect(problems.count == 2)
        #expect(file.listeners == [HostAndPort(host: "127.0.0.1", port: 1)])
        #expect(file.log.level == "loud" && file.limits.authFailures == 3 && file.limits.maxSessions == nil)
    }

    /// Text that is not JSON: one problem at `$`, with the line and column.
    @Test(arguments: [
        ("", "$: not JSON: line 1, column 1: the document is empty; expected a JSON object"),
        ("{\"listeners\": [\"a\",]}", "$: not JSON: line 1, column 20: ']' where a value belongs (a string in double quotes, a number, true, false, null, [ or {)"),
        ("{\n  \"listeners\": [\"a\"]\n  \"users\": {}\n}", "$: not JSON: line 3, column 3: '\"' where ',' or '}' belongs"),
        ("{\"a\": 'x'}", "$: not JSON: line 1, column 7: ''' where a value belongs (a string in double quotes, a number, true, false, null, [ or {)"),
        ("{\"a\": True}", "$: not JSON: line 1, column 7: 'T' where a value belongs (a string in double quotes, a number, true, false, null, [ or {)"),
        ("{\"a\": 01}", "$: not JSON: line 1, column 8: a number cannot start with 0 (write 7, not 07)"),
        ("{\"a\": \"x}", "$: not JSON: line 1, column 7: this string has no closing double quote"),
        ("{\"é\": \"\\q\"}", "$: not JSON: line 1, column 9: 'q' after a backslash: JSON's escapes are \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t and \\uXXXX"),
        ("{\"a\": \"\\ud800\"}", "$: not JSON: line 1, column 14: \\ud800 is half of a surrogate pair without its other half"),
        ("{\"a\": \"\t\"}", "$: not JSON: line 1, column 8: a control character (byte 0x9) inside a string; write it as an escape such as \\n, \\t or \\u001b"),
        ("{} {}", "$: not JSON: line 1, column 4: '{' after the end of the document"),
        ("{\"a\": 1} // comment", "$: not JSON: line 1, column 10: '/' after the end of the document"),
    ])
    func notJSON(text: String, problem: String) {
        let (_, problems) = Self.read(text)
        #expect(problems == [problem])
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        let (_, problems) = ConfigurationFile.read(json: Array("{\"a\": \"".utf8) + [0xC3, 0x28] + Array("\"}".utf8))
        #expect(problems.map(\.description) == ["$: not JSON: line 1, column 7: this string is not valid UTF-8 (the file must be UTF-8 text)"])
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let (_, deepProblems) = ConfigurationFile.read(json: Array(deep.utf8))
        #expect(deepProblems.map(\.description) == ["$: not JSON: line 1, column 65: arrays and objects nest more than 64 deep"])
    }

    /// The JSON reader keeps what JSONSerialization loses: numbers as written, every member in order, a
    /// key given twice; it skips a UTF-8 byte order mark; its writer's text reads back equal.
    @Test func theJSONReaderKeepsWhatWasWritten() throws {
        let value = try JSONReader.parse([0xEF, 0xBB, 0xBF] + Array(#"{"b": [1.0, 0, -2e3, true, null], "a": "\ud83d\ude00\n\u0000", "b": {}}"#.utf8))
        #expect(value == .object([
            JSONValue.Member("b", .array([.number("1.0"), .number("0"), .number("-2e3"), .bool(true), .null])),
            JSONValue.Member("a", .string("😀\n\u{0}")),
            JSONValue.Member("b", .object([])),
        ]))
        #expect(try JSONReader.parse(Array(value.text.utf8)) == value)
        #expect(value.text.contains(#""a": "😀\n\u0000""#), "\(value.text)")
    }

    /// A key or value with invisible characters prints escaped: one problem is one line.
    @Test func invisibleCharactersAreEscaped() {
        let (_, problems) = Self.read("{\"listeners\": [\"127.0.0.1:1\\n\\u202e\"], \"users\": {\"a\\nb\": 5}}")
        #expect(problems == [
            "listeners[0]: '127.0.0.1:1\\n\\u{202E}' is not HOST:PORT with a port from 0 to 65535",
            "users[\"a\\nb\"]: must be a password (or crypt(3) hash) string, or an object with a \"password\", not the number 5",
        ])
        #expect(problems.allSatisfy { !$0.contains("\n") })
    }

    @Test func aListenerBehindABalancerIsAnObjectWithItsTrustedProxies() throws {
        let text = #"{"listeners": ["127.0.0.1:1080", {"address": "127.0.0.1:1081", "proxyProtocol": true, "trustedProxies": ["10.0.0.0/8", "::1"]}]}"#
        let file = try ConfigurationFile(json: Array(text.utf8))
        #expect(file.listeners.map(\.description) == ["127.0.0.1:1080"])
        #expect(file.proxyProtocolListeners.map(\.address.description) == ["127.0.0.1:1081"])
        #expect(file.proxyProtocolListeners.first?.trustedProxies.map(\.description) == ["10.0.0.0/8", "::1"])
        // It writes back to itself.
        #expect(try ConfigurationFile(json: Array(file.json.utf8)) == file)
        let (_, problems) = ConfigurationFile.read(json: Array(#"{"listeners": [{"address": "127.0.0.1:1", "trustedProxies": ["10.0.0.0/8"]}]}"#.utf8))
        #expect(problems.map(\.description) == ["listeners[0].trustedProxies: only means something with \"proxyProtocol\": true"])
    }
}
