import AsyncSockets

extension SOCKSServer.Configuration {
    /// The listen addresses for which `SOCKSServer.init` would refuse this configuration as an open proxy
    /// (`SOCKSServerError.openProxy`); empty when it would start. For a check that must not bind anything
    /// (`socksd --check-config`).
    package var openProxyAddresses: [SocketAddress] { SOCKSServer.openProxyAddresses(self) }
}
