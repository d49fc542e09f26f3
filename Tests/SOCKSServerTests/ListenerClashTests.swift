import AsyncSockets
import Testing
import TestSupport
@testable import SOCKSServer

/// Issue 18, item 4, in the library: an address with a fixed port configured for two listeners is refused
/// (at start and at reload) instead of one listener vanishing; port 0 given twice is two listeners.
@Suite struct ListenerClashTests {
    /// A fixed port: nothing binds it, as the configuration is refused before any bind.
    static let fixed = SocketAddress(ip: .ipv4Loopback, port: 1)

    static func proxyListener(_ address: SocketAddress) throws -> ProxyProtocolListener {
        ProxyProtocolListener(address: address, trustedProxies: [try IPNetwork(parsing: "127.0.0.1/32")])
    }

    @Test func oneFixedAddressForTwoListenersIsRefusedAtStartAndAtReload() async throws {
        var plainAndProxy = SOCKSServer.Configuration()
        plainAndProxy.listenAddresses = [Self.fixed]
        plainAndProxy.proxyProtocolListeners = [try Self.proxyListener(Self.fixed)]
        #expect(throws: SOCKSServerError.duplicateListenAddress(Self.fixed)) { _ = try SOCKSServer(configuration: plainAndProxy) }
        var twice = SOCKSServer.Configuration()
        twice.listenAddresses = [Self.fixed, Self.fixed]
        #expect(throws: SOCKSServerError.duplicateListenAddress(Self.fixed)) { _ = try SOCKSServer(configuration: twice) }

        let harness = try ServerHarness()
        var reloaded = harness.server.configuration
        reloaded.listenAddresses = [SocketAddress(ip: .ipv4Loopback, port: 0), Self.fixed]
        reloaded.proxyProtocolListeners = [try Self.proxyListener(Self.fixed)]
        await #expect(throws: SOCKSServerError.duplicateListenAddress(Self.fixed)) { try await harness.server.reload(reloaded) }
        #expect(harness.server.localAddresses == [harness.address], "the refused reload changed nothing")
        await harness.stop()
    }

    /// Port 0 twice, plain and PROXY: two sockets, each its own kind; a reload keeps both, each as it was.
    @Test func portZeroTwiceIsTwoListenersAndAReloadKeepsBoth() async throws {
        let harness = try ServerHarness {
            $0.proxyProtocolListeners = [try Self.proxyListener(SocketAddress(ip: .ipv4Loopback, port: 0))]
        }
        let addresses = harness.server.localAddresses
        #expect(addresses.count == 2 && addresses[0] != addresses[1], "\(addresses)")
        #expect(harness.server.proxyProtocolAddresses == [addresses[1]])

        let outcome = try await harness.server.reload(harness.server.configuration)
        #expect(Set(outcome.kept) == Set(addresses) && outcome.opened.isEmpty && outcome.closed.isEmpty, "\(outcome)")
        #expect(harness.server.proxyProtocolAddresses == [addresses[1]], "each kept socket keeps its own kind")
        await harness.stop()
    }
}
