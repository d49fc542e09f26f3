// README's client example, compiled with the one import it shows.
import SOCKSClient

/// Compiled, never called: it names public hosts, and tests reach loopback only.
func clientExample() async throws {
    // BEGIN README EXAMPLE client
    let proxy = SOCKSClient(host: "127.0.0.1", port: 1080, credentials: SOCKSCredentials(username: "alice", password: "secret"))

    // CONNECT: a TCP stream to the destination
    let tunnel = try await proxy.connect(to: SOCKSEndpoint(address: .domain("example.com"), port: 80))
    try await tunnel.connection.write(Array("HEAD / HTTP/1.0\r\n\r\n".utf8))

    // UDP ASSOCIATE: datagrams through the proxy's relay
    let association = try await proxy.udpAssociate()
    try await association.send(Array("query".utf8), to: SOCKSEndpoint(address: .ipv4([9, 9, 9, 9]), port: 53))

    // UDP over TCP (UoT v2, non-connect): datagrams framed on one TCP stream
    let stream = try await proxy.udpOverTCP()
    try await stream.send(Array("query".utf8), to: SOCKSEndpoint(address: .domain("dns.example"), port: 53))
    for try await frame in stream.frames() { print(frame.endpoint!, frame.payload.count) }
    // END README EXAMPLE
}
