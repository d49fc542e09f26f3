// `import SOCKSServer` is all an embedder needs: the server's public API is written in the types of these
// modules (`SocketAddress`, `IPAddress`, `EventLoopGroup`, `SocketError` from AsyncSockets; `SOCKSEndpoint`,
// `SOCKSCredentials`, `SOCKSReplyCode` from SOCKSProtocol), and an embedder uses their initialisers and
// members, not only their names, which typealiases alone would not give. Importing them again is harmless.
@_exported import AsyncSockets
@_exported import SOCKSProtocol
