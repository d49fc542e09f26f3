import AsyncSockets
import Testing
@testable import SOCKSServer

@Suite struct DestinationRuleTests {
    // MARK: IPNetwork

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8", 8), ("fd00::/8", "fd00::/8", 8), ("192.0.2.7", "192.0.2.7", 32),
        ("192.0.2.7/32", "192.0.2.7", 32), ("::1", "::1", 128), ("::1/128", "::1", 128), ("0.0.0.0/0", "0.0.0.0/0", 0),
        ("::/0", "::/0", 0), ("2001:DB8::/32", "2001:db8::/32", 32), ("10.0.0.0/08", "10.0.0.0/8", 8),
    ])
    func networkParsesToCanonicalForm(text: String, canonical: String, prefixLength: Int) throws {
        let network = try IPNetwork(parsing: text)
        #expect(network.description == canonical)
        #expect(network.prefixLength == prefixLength)
        #expect(try IPNetwork(parsing: network.description) == network)
    }

    @Test(arguments: [
        ("", "'' is empty; expected an IP address or network such as 10.0.0.0/8"),
        ("10.1.2.3/8", "'10.1.2.3/8' has host bits set; did you mean 10.0.0.0/8?"),
        ("fd00::1/8", "'fd00::1/8' has host bits set; did you mean fd00::/8?"),
        ("10.0.0.0/33", "'10.0.0.0/33' has an invalid prefix length; an IPv4 prefix length is a number from 0 to 32"),
        ("fd00::/129", "'fd00::/129' has an invalid prefix length; an IPv6 prefix length is a number from 0 to 128"),
        ("10.0.0.0/", "'10.0.0.0/' has an invalid prefix length; an IPv4 prefix length is a number from 0 to 32"),
        ("10.0.0.0/+8", "'10.0.0.0/+8' has an invalid prefix length; an IPv4 prefix length is a number from 0 to 32"),
        ("10.0.0.0/8/8", "'10.0.0.0/8/8' has an invalid prefix length; an IPv4 prefix length is a number from 0 to 32"),
        ("10.0.0.0/8:22", "'10.0.0.0/8:22' has an invalid prefix length; an IPv4 prefix length is a number from 0 to 32"),
    ])
    func networkErrorsQuoteTheText(text: String, message: String) throws {
        let error = try #require(throws: RuleSyntaxError.self) { try IPNetwork(parsing: text) }
        #expect(error.description == message)
        #expect(error.text == text)
    }

    @Test(arguments: ["junk", "300.1.2.3", "1.2.3", "127.1", "[::1]", "::1%lo", "10.0.0.1\u{0}", "/8", " 10.0.0.1"])
    func networkRefusesWhatIsNotAnAddress(text: String) throws {
        let error = try #require(throws: RuleSyntaxError.self) { try IPNetwork(parsing: text) }
        #expect(error.description.hasSuffix("is not an IP address or network (expected the form 10.0.0.0/8, fd00::/8, 192.0.2.7 or ::1)"))
        #expect(error.text == text)
    }

    /// The networks that grant trust (`allowFrom`, trusted balancers) match IPv4 and IPv4-mapped clients, but
    /// not a NAT64 address: that is an IPv6 host, whoever holds it. IPv6 networks match it as written.
    @Test func aClientNetworkTakesNoNAT64AddressForItsIPv4Host() throws {
        let host = try IPNetwork(parsing: "10.9.9.9/32")
        for inside in ["10.9.9.9", "::ffff:10.9.9.9"] {
            #expect(host.containsClient(IPAddress(inside)!), "\(inside)")
        }
        for outside in ["64:ff9b::a09:909", "64:ff9b::10.9.9.9", "::10.9.9.9", "10.9.9.8", "::ffff:10.9.9.8"] {
            #expect(!host.containsClient(IPAddress(outside)!), "\(outside)")
        }
        #expect(try IPNetwork(parsing: "0.0.0.0/0").containsClient(IPAddress("::ffff:192.0.2.1")!))
        #expect(try !IPNetwork(parsing: "0.0.0.0/0").containsClient(IPAddress("64:ff9b::1")!))
        #expect(try IPNetwork(parsing: "64:ff9b::/96").containsClient(IPAddress("64:ff9b::a09:909")!))
        #expect(try IPNetwork(parsing: "2001:db8::/32").containsClient(IPAddress("2001:db8::7")!))
        #expect(try !IPNetwork(parsing: "2001:db8::/32").containsClient(IPAddress("10.9.9.9")!))
    }

    @Test func networkContainsEmbeddedIPv4() throws {
        let ten = try IPNetwork(parsing: "10.0.0.0/8")
        for inside in ["10.0.0.0", "10.255.255.255", "::ffff:10.1.2.3", "64:ff9b::a01:203", "64:ff9b::10.9.9.9"] {
            #expect(ten.contains(IPAddress(inside)!), "\(inside)")
        }
        for outside in ["11.0.0.0", "9.255.255.255", "::ffff:11.1.2.3", "64:ff9b::b01:203", "::10.1.2.3", "64:ff9b:1::a01:203", "fd00::"] {
            #expect(!ten.contains(IPAddress(outside)!), "\(outside)")
        }
        // A network in the IPv4-mapped form could never match (destinations are compared as IPv4): refused.
        #expect(throws: RuleSyntaxError.self) { try IPNetwork(parsing: "::ffff:0:0/96") }
        #expect(throws: RuleSyntaxError.self) { try IPNetwork(parsing: "::ffff:10.0.0.0/104") }
        let documentation = try IPNetwork(parsing: "2001:db8::/33")
        #expect(documentation.contains(IPAddress("2001:db8:7fff::1")!))
        #expect(!documentation.contains(IPAddress("2001:db8:8000::")!))
        #expect(try IPNetwork(parsing: "0.0.0.0/0").contains(IPAddress("64:ff9b::1")!))
        #expect(!(try IPNetwork(parsing: "0.0.0.0/0").contains(IPAddress("2001:db8::1")!)))
        #expect(try IPNetwork(parsing: "::/0").contains(IPAddress("::ffff:1.2.3.4")!))
        #expect(!(try IPNetwork(parsing: "::/0").contains(IPAddress("1.2.3.4")!)))
        #expect(try IPNetwork(parsing: "192.0.2.7").contains(IPAddress("192.0.2.7")!))
        #expect(!(try IPNetwork(parsing: "192.0.2.7").contains(IPAddress("192.0.2.6")!)))
    }

    @Test func maskingClearsHostBits() {
        #expect(IPNetwork(masking: IPAddress("10.1.2.3")!, prefixLength: 12)?.description == "10.0.0.0/12")
        #expect(IPNetwork(masking: IPAddress("fdff::1")!, prefixLength: 7)?.description == "fc00::/7")
        #expect(IPNetwork(masking: IPAddress("10.1.2.3")!, prefixLength: 33) == nil)
        #expect(IPNetwork(masking: IPAddress("::1")!, prefixLength: -1) == nil)
    }

    // MARK: Parsing rules

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"), ("fd00::/8", "fd00::/8"), ("192.0.2.1", "192.0.2.1"), ("192.0.2.1/32", "192.0.2.1"),
        ("10.0.0.0/8:22", "10.0.0.0/8:22"), ("example.com", "example.com"), ("Example.COM.", "example.com"),
        ("example.com:8000-8999", "example.com:8000-8999"), ("example.com:22-22", "example.com:22"),
        ("example.com:0", "example.com:0"), ("private", "private"), ("PRIVATE", "private"), ("private:25", "private:25"),
        ("*", "*"), ("*:25", "*:25"), ("*:0-65535", "*:0-65535"), ("[::1]:1080", "[::1]:1080"), ("[::1]", "::1"),
        ("::1", "::1"), ("[fd00::]/8:22", "[fd00::/8]:22"), ("[fd00::/8]:22", "[fd00::/8]:22"), ("[fd00::]/8", "fd00::/8"),
        ("_sip._tcp.Example.com", "_sip._tcp.example.com"), ("localhost", "localhost"), ("a-b.c_d.e", "a-b.c_d.e"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"), ("example.com:0080", "example.com:80"),
    ])
    func targetParsesToCanonicalForm(text: String, canonical: String) throws {
        for action in [DestinationRule.Action.allow, .deny] {
            let rule = try DestinationRule(action: action, parsing: text)
            #expect(rule.target == canonical)
            #expect(rule.description == "\(action == .allow ? "allow-to" : "deny-to") \(canonical)")
            let again = try DestinationRule(action: action, parsing: rule.target)
            #expect(again == rule)
        }
    }

    @Test func targetPartsAreRead() throws {
        let network = try DestinationRule(action: .deny, parsing: "10.0.0.0/8:22")
        #expect(network.action == .deny)
        #expect(network.host == .network(try IPNetwork(parsing: "10.0.0.0/8")))
        #expect(network.ports == 22...22)
        let domain = try DestinationRule(action: .allow, parsing: "Example.COM.:8000-8999")
        #expect(domain.host == .domain("example.com"))
        #expect(domain.ports == 8000...8999)
        #expect(try DestinationRule(action: .allow, parsing: "private").host == .privateRanges)
        #expect(try DestinationRule(action: .allow, parsing: "private").ports == nil)
        #expect(try DestinationRule(action: .allow, parsing: "*:25").host == .any)
        #expect(try DestinationRule(action: .allow, parsing: "[fd00::]/8:22") == DestinationRule(action: .allow, parsing: "[fd00::/8]:22"))
        let longest = String(repeating: "a.", count: 126) + "a"
        #expect(try DestinationRule(action: .allow, parsing: longest).target == longest)
        let longestLabel = String(repeating: "b", count: 63) + ".com"
        #expect(try DestinationRule(action: .allow, parsing: longestLabel).target == longestLabel)
    }

    @Test(arguments: [
        ("", "is empty; a target is an address, a network, a domain, private or *, optionally followed by :PORT or :LOW-HIGH"),
        ("10.1.2.3/8", "has host bits set; did you mean 10.0.0.0/8?"),
        ("10.1.2.3/8:22", "has host bits set; did you mean 10.0.0.0/8?"),
        ("10.0.0.0/33", "has an invalid prefix length; an IPv4 prefix length is a number from 0 to 32"),
        ("300.1.2.3", "is not an IPv4 address (four numbers from 0 to 255) nor a domain (whose last label is never a number)"),
        ("1.2.3", "is not an IPv4 address (four numbers from 0 to 255) nor a domain (whose last label is never a number)"),
        ("127.1", "is not an IPv4 address (four numbers from 0 to 255) nor a domain (whose last label is never a number)"),
        ("1.2.3.4.", "is not an IPv4 address (four numbers from 0 to 255) nor a domain (whose last label is never a number)"),
        ("example.123", "is not an IPv4 address (four numbers from 0 to 255) nor a domain (whose last label is never a number)"),
        ("example.com/8", "is not an IP address or network"),
        ("*.example.com", "has a wildcard, which is not needed: 'example.com' already covers its subdomains"),
        ("*.example.com:443", "has a wildcard, which is not needed: 'example.com' already covers its subdomains"),
        ("ex*ample.com", "has a '*' inside a host; * alone means any host"),
        ("**", "has a '*' inside a host; * alone means any host"),
        ("example.com:", "ends with ':' but no port follows"),
        ("*:", "ends with ':' but no port follows"),
        ("[::1]:", "ends with ':' but no port follows"),
        ("example.com:65536", "has '65536' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:99999999999999999999", "has '99999999999999999999' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:-1", "has '-1' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:1-", "has '1-' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:+80", "has '+80' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:1-2-3", "has '1-2-3' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:http", "has 'http' where a port from 0 to 65535 or a range LOW-HIGH belongs"),
        ("example.com:9-1", "has the port range 9-1, whose low end is above its high end"),
        (":80", "has no host before the port (write *:PORT for any host)"),
        ("fd00::/8:22", "is not an IPv6 address or network (with ports, write it in brackets: [::1]:1080, [fd00::/8]:22)"),
        ("::1:22:", "is not an IPv6 address or network (with ports, write it in brackets: [::1]:1080, [fd00::/8]:22)"),
        ("fe80::1%eth0", "is not an IPv6 address or network (with ports, write it in brackets: [::1]:1080, [fd00::/8]:22)"),
        ("[10.0.0.1]:22", "has brackets, which are only for IPv6 addresses and networks ([::1]:1080, [fd00::/8]:22)"),
        ("[example.com]:22", "has brackets, which are only for IPv6 addresses and networks ([::1]:1080, [fd00::/8]:22)"),
        ("[::ffff:1.2.3.4", "has '[' but no ']'"),
        ("[::1]22", "has '22' after the address, where only :PORT or :LOW-HIGH may follow"),
        ("[::1]]:22", "has ']:22' after the address, where only :PORT or :LOW-HIGH may follow"),
        ("[fd00::/8]/8:22", "has two prefix lengths"),
        ("exa mple.com", "is not a domain: ' ' is not a letter, digit, '-' or '_'"),
        ("exämple.com", "is not a domain: 'ä' is not a letter, digit, '-' or '_'"),
        ("a\nb", "is not a domain: '\\n' is not a letter, digit, '-' or '_'"),
        ("a..b", "has an empty label (two dots in a row, or a dot first)"),
        (".example.com", "has an empty label (two dots in a row, or a dot first)"),
        ("example.com..", "has an empty label (two dots in a row, or a dot first)"),
        (".", "is not a domain: it has no label"),
        ("private.", "would be the domain private, which reads as the keyword private (the private address ranges)"),
    ])
    func targetErrorsSayWhatIsWrong(text: String, problem: String) throws {
        let error = try #require(throws: RuleSyntaxError.self) { try DestinationRule(action: .deny, parsing: text) }
        #expect(error.description.contains(problem), "\(error)")
        // The message starts with the offending text (the whole target, or the part that is wrong) in quotes.
        #expect(error.description.hasPrefix(RuleSyntaxError.quoted(error.text) + " "))
        #expect(text == error.text || text.contains(error.text))
    }

    @Test func longDomainsAndLabelsAreRefused() throws {
        let longLabel = String(repeating: "a", count: 64) + ".com"
        let labelError = try #require(throws: RuleSyntaxError.self) { try DestinationRule(action: .deny, parsing: longLabel) }
        #expect(labelError.description.contains("has a label longer than 63 bytes"))
        let longName = String(repeating: "a.", count: 126) + "ab"
        let nameError = try #require(throws: RuleSyntaxError.self) { try DestinationRule(action: .deny, parsing: longName) }
        #expect(nameError.description.hasSuffix("is longer than the 253 bytes of the longest domain"))
        // The quote is cut, so a huge argument does not make a huge message.
        #expect(nameError.description.count < 200)
    }

    @Test func quotingShowsInvisibleCharacters() {
        #expect(RuleSyntaxError.quoted("a\u{202E}b\tc d\u{0}") == "'a\\u{202E}b\\tc d\\0'")
        #expect(RuleSyntaxError("x\r\ny", "is bad").description == "'x\\r\\ny' is bad")
    }

    // MARK: Matching

    @Test func domainMatchesItselfAndSubdomains() throws {
        let rules = try Self.rules("allow-to example.com")
        for name in ["example.com", "a.b.example.com", "EXAMPLE.com.", "www.Example.COM", "-.example.com", "x..example.com", String(repeating: "a.", count: 120) + "example.com"] {
            #expect(rules.firstMatch(name: name, address: nil, port: 1)?.index == 0, "\(name)")
        }
        for name in ["badexample.com", "example.com.evil", "com", "example.co", "", ".", "example.com..", "example", "xample.com"] {
            #expect(rules.firstMatch(name: name, address: nil, port: 1) == nil, "\(name)")
        }
        #expect(rules.firstMatch(name: nil, address: IPAddress("93.184.215.14"), port: 1) == nil)
        // DNS folds ASCII case only: the Kelvin sign lower-cases to "k" in Unicode, but is another name.
        let kernel = try Self.rules("deny-to kernel.org")
        #expect(kernel.firstMatch(name: "\u{212A}ernel.org", address: nil, port: 1) == nil)
        #expect(kernel.firstMatch(name: "KERNEL.org", address: nil, port: 1)?.index == 0)
    }

    @Test func portsLimitARule() throws {
        let rules = try Self.rules("deny-to example.com:8000-8999", "deny-to *:25", "allow-to 10.0.0.0/8:22", "deny-to [fd00::/8]:53")
        #expect(rules.firstMatch(name: "example.com", address: nil, port: 7999) == nil)
        #expect(rules.firstMatch(name: "example.com", address: nil, port: 8000)?.index == 0)
        #expect(rules.firstMatch(name: "example.com", address: nil, port: 8999)?.index == 0)
        #expect(rules.firstMatch(name: "example.com", address: nil, port: 9000) == nil)
        #expect(rules.firstMatch(name: nil, address: IPAddress("192.0.2.1"), port: 25)?.index == 1)
        #expect(rules.firstMatch(name: nil, address: IPAddress("192.0.2.1"), port: 26) == nil)
        #expect(rules.firstMatch(name: nil, address: IPAddress("10.9.8.7"), port: 22)?.index == 2)
        #expect(rules.firstMatch(name: nil, address: IPAddress("10.9.8.7"), port: 23) == nil)
        #expect(rules.firstMatch(name: nil, address: IPAddress("fd12::1"), port: 53)?.index == 3)
        #expect(rules.firstMatch(name: nil, address: IPAddress("fd12::1"), port: 54) == nil)
    }

    @Test func firstMatchingRuleWinsAcrossKinds() throws {
        let rules = try Self.rules(
            "allow-to intranet.corp", "deny-to private", "deny-to 10.0.0.0/8:22", "allow-to 10.1.0.0/16", "deny-to *:25",
            "deny-to blocked.example", "allow-to *")
        #expect(!rules.isEmpty)
        #expect(rules.rules.count == 7)
        // Before resolving: only domain and * rules can match.
        #expect(rules.firstMatch(name: "intranet.corp", address: nil, port: 22)?.index == 0)
        #expect(rules.firstMatch(name: "blocked.example", address: nil, port: 80)?.index == 5)
        #expect(rules.firstMatch(name: "blocked.example", address: nil, port: 25)?.index == 4)
        #expect(rules.firstMatch(name: "else.example", address: nil, port: 80)?.index == 6)
        // With the resolved address: the domain rule comes before private, so intranet.corp reaches 10.x;
        // another name resolving to loopback, or to loopback in mapped and NAT64 form, is denied by private.
        #expect(rules.firstMatch(name: "db.intranet.corp", address: IPAddress("10.0.0.5"), port: 22)?.index == 0)
        #expect(rules.firstMatch(name: "evil.example", address: IPAddress("127.0.0.1"), port: 80)?.index == 1)
        #expect(rules.firstMatch(name: "evil.example", address: IPAddress("::ffff:127.0.0.1"), port: 80)?.index == 1)
        #expect(rules.firstMatch(name: "evil.example", address: IPAddress("64:ff9b::7f00:1"), port: 80)?.index == 1)
        #expect(rules.firstMatch(name: nil, address: IPAddress("10.1.2.3"), port: 80)?.index == 1)
        #expect(rules.firstMatch(name: nil, address: IPAddress("93.184.215.14"), port: 80)?.index == 6)
        let match = try #require(rules.firstMatch(name: nil, address: IPAddress("127.0.0.1"), port: 80))
        #expect(match.rule.description == "deny-to private")

        // Networks in the other order: the more specific rule wins only when it comes first.
        let ordered = try Self.rules("deny-to 10.0.0.0/8:22", "allow-to 10.1.0.0/16", "deny-to 10.0.0.0/8", "allow-to private")
        #expect(ordered.firstMatch(name: nil, address: IPAddress("10.1.0.1"), port: 22)?.index == 0)
        #expect(ordered.firstMatch(name: nil, address: IPAddress("10.1.0.1"), port: 80)?.index == 1)
        #expect(ordered.firstMatch(name: nil, address: IPAddress("::ffff:10.2.0.1"), port: 80)?.index == 2)
        #expect(ordered.firstMatch(name: nil, address: IPAddress("192.168.1.1"), port: 80)?.index == 3)
        #expect(ordered.firstMatch(name: nil, address: nil, port: 80) == nil)
        #expect(DestinationRules([]).isEmpty)
        #expect(DestinationRules([]).firstMatch(name: "example.com", address: IPAddress("127.0.0.1"), port: 1) == nil)
    }

    @Test func sameNetworkOrDomainInSeveralRules() throws {
        let rules = try Self.rules(
            "deny-to 10.0.0.0/8:22", "allow-to 10.0.0.0/8:20-30", "deny-to 10.0.0.0/8", "deny-to example.com:443",
            "allow-to EXAMPLE.com", "deny-to [fd00::]/8:1", "allow-to fd00::/8")
        #expect(rules.firstMatch(name: nil, address: IPAddress("10.0.0.1"), port: 22)?.index == 0)
        #expect(rules.firstMatch(name: nil, address: IPAddress("10.0.0.1"), port: 23)?.index == 1)
        #expect(rules.firstMatch(name: nil, address: IPAddress("10.0.0.1"), port: 31)?.index == 2)
        #expect(rules.firstMatch(name: "www.example.com", address: nil, port: 443)?.index == 3)
        #expect(rules.firstMatch(name: "www.example.com", address: nil, port: 80)?.index == 4)
        #expect(rules.firstMatch(name: nil, address: IPAddress("fd00::1"), port: 1)?.index == 5)
        #expect(rules.firstMatch(name: nil, address: IPAddress("fd00::1"), port: 2)?.index == 6)
    }

    // MARK: private

    @Test func privateRangesAreTheDocumentedList() {
        #expect(DestinationRule.privateNetworks.map(\.description) == [
            "0.0.0.0/8", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
            "198.18.0.0/15", "224.0.0.0/4", "255.255.255.255", "::", "::1", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
            "64:ff9b:1::/48",
        ])
    }

    @Test(arguments: [
        "0.0.0.0", "0.255.255.255", "127.0.0.1", "127.255.255.255", "10.0.0.0", "10.255.255.255", "172.16.0.0", "172.31.255.255",
        "192.168.0.0", "192.168.255.255", "169.254.0.1", "169.254.169.254", "100.64.0.0", "100.127.255.255", "198.18.0.0",
        "198.19.255.255", "224.0.0.1", "239.255.255.255", "255.255.255.255", "::", "::1", "fc00::", "fdff:ffff::1", "fe80::1",
        "febf:ffff::1", "fec0::1", "feff::1", "ff02::1", "ffff::1", "64:ff9b:1::1", "64:ff9b:1:ffff::1", "::ffff:127.0.0.1",
        "64:ff9b::7f00:1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "::ffff:0.0.0.0",
    ])
    func privateAddress(text: String) throws {
        let rules = try Self.rules("deny-to private")
        let address = try #require(IPAddress(text))
        #expect(rules.firstMatch(name: nil, address: address, port: 443)?.index == 0)
        #expect(rules.linearFirstMatch(name: nil, address: address, port: 443)?.index == 0)
    }

    @Test(arguments: [
        "8.8.8.8", "2001:4860:4860::8888", "100.128.0.1", "100.63.255.255", "172.32.0.1", "172.15.255.255", "1.0.0.0",
        "126.255.255.255", "128.0.0.0", "11.0.0.0", "192.169.0.0", "169.255.0.0", "198.20.0.0", "223.255.255.255",
        "255.255.255.254", "::2", "fbff::1", "fe00::1", "2001:db8::1", "64:ff9b::808:808", "64:ff9b:2::1", "::ffff:8.8.8.8",
        "::127.0.0.1",
    ])
    func publicAddress(text: String) throws {
        let rules = try Self.rules("deny-to private")
        let address = try #require(IPAddress(text))
        #expect(rules.firstMatch(name: nil, address: address, port: 443) == nil)
        #expect(rules.linearFirstMatch(name: nil, address: address, port: 443) == nil)
    }

    // MARK: The index against the plain walk

    /// Pseudo-random rule lists and destinations, drawn near each other so that most queries match something
    /// and many match several rules: the indexed lookup must name the same rule as the walk every time.
    @Test func indexAgreesWithLinearWalk() throws {
        var random = SplitMix64(seed: 0x5EED_0F_2025)
        var mismatches: [String] = []
        var matched = 0
        var queries = 0
        for _ in 0..<60 {
            let rules = DestinationRules((0..<random.next(below: 80)).map { _ in Self.randomRule(&random) })
            for _ in 0..<60 {
                let name = Self.randomName(&random)
                let address = Self.randomAddress(&random)
                let port = UInt16(18 + random.next(below: 16))
                let indexed = rules.firstMatch(name: name, address: address, port: port)
                let linear = rules.linearFirstMatch(name: name, address: address, port: port)
                queries += 1
                if linear != nil { matched += 1 }
                if indexed?.index != linear?.index || indexed?.rule != linear?.rule {
                    mismatches.append("\(name ?? "-") \(address.map(String.init(describing:)) ?? "-") :\(port) → \(indexed?.index ?? -1), walk \(linear?.index ?? -1) in \(rules.rules)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
        #expect(queries == 3600)
        // The generator is only useful if lookups do find rules, though not always.
        #expect(matched > queries / 3 && matched < queries)
    }

    // MARK: Helpers

    /// Rules from lines such as `deny-to private`.
    static func rules(_ lines: String...) throws -> DestinationRules {
        DestinationRules(try lines.map { line throws in
            let parts = line.split(separator: " ", maxSplits: 1)
            let action: DestinationRule.Action = parts[0] == "allow-to" ? .allow : .deny
            return try DestinationRule(action: action, parsing: String(parts[1]))
        })
    }

    static let baseAddresses = [
        "10.1.2.3", "10.200.0.1", "192.168.1.20", "127.0.0.1", "8.8.8.8", "172.16.5.4", "0.0.0.0", "255.255.255.255",
        "fd00::1", "fd12:3456::1", "2001:db8::1", "2001:db8:1::1", "fe80::1", "::1", "::", "64:ff9b:1::5",
    ].map { IPAddress($0)! }
    static let baseNames = ["example.com", "a.example.com", "corp", "intranet.corp", "x.y.z", "y.z", "example.org"]

    static func randomRule(_ random: inout SplitMix64) -> DestinationRule {
        let action: DestinationRule.Action = random.next(below: 2) == 0 ? .allow : .deny
        let host: DestinationRule.Host
        switch random.next(below: 10) {
        case 0: host = .any
        case 1: host = .privateRanges
        case 2, 3, 4: host = .domain(baseNames[random.next(below: baseNames.count)])
        default:
            let address = baseAddresses[random.next(below: baseAddresses.count)]
            let bitCount = address.bytes.count * 8
            // Mostly long prefixes (near the address), sometimes short ones that cover much more.
            let prefixLength = random.next(below: 3) == 0 ? random.next(below: bitCount + 1) : bitCount - random.next(below: 17)
            host = .network(IPNetwork(masking: address, prefixLength: prefixLength)!)
        }
        var ports: ClosedRange<UInt16>?
        if random.next(below: 2) == 0 {
            let low = UInt16(18 + random.next(below: 16))
            ports = low...(low + UInt16(random.next(below: 4)))
        }
        return DestinationRule(action: action, host: host, ports: ports)
    }

    static func randomName(_ random: inout SplitMix64) -> String? {
        switch random.next(below: 6) {
        case 0: return nil
        case 1: return ["", ".", "com", "badexample.com", "example.com.evil", "Z", "a..y.z"][random.next(below: 7)]
        default:
            var name = baseNames[random.next(below: baseNames.count)]
            if random.next(below: 2) == 0 { name = ["www.", "a.b.", "x", "-."][random.next(below: 4)] + name }
            if random.next(below: 3) == 0 { name = name.uppercased() }
            if random.next(below: 3) == 0 { name += "." }
            return name
        }
    }

    static func randomAddress(_ random: inout SplitMix64) -> IPAddress? {
        if random.next(below: 6) == 0 { return nil }
        var bytes = baseAddresses[random.next(below: baseAddresses.count)].bytes
        // Flip a few low bits, so the address falls in some of the networks made from the same base.
        for _ in 0..<random.next(below: 3) {
            let byte = bytes.count - 1 - random.next(below: 3)
            bytes[byte] ^= UInt8(1 << random.next(below: 8))
        }
        if bytes.count == 4 {
            switch random.next(below: 4) {
            case 0: bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + bytes
            case 1: bytes = [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] + bytes
            default: break
            }
        }
        return IPAddress(bytes: bytes)
    }
}

/// A small deterministic generator (SplitMix64), so a failing combination can be found again.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A number in `0..<bound` (bound at least 1).
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
