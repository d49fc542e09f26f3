// `import SOCKSClient` is all a client needs: its public API is written in the types of these modules
// (`TCPConnection`, `UDPSocket`, `SocketAddress` from AsyncSockets; `SOCKSEndpoint`, `SOCKSCredentials`,
// `UoTFrame` from SOCKSProtocol), and a client uses their members (reading a tunnel's connection, building an
// endpoint), which typealiases alone would not give. Importing them again is harmless.
@_exported import AsyncSockets
@_exported import SOCKSProtocol
