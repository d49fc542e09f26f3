import Synchronization

/// The state sessions share that outlives a reload: which clients are serving login backoffs, how many
/// sessions each user and the UDP associations have open, every open session's tracker, and the server's
/// own sockets. A reload
/// changes the limits (`update`), never these counts: sessions that started before it still count.
final class SessionRuntime: Sendable {
    let loginThrottle: LoginThrottle
    let openSessions: OpenSessions
    /// Open sessions per user, against `maxSessionsPerUser` or the user's own limit.
    let userSessions = SessionLimit()
    /// Open UDP associations and UoT streams, under one key, against `maxUDPAssociations`.
    let udpAssociations = SessionLimit()
    /// The server's proxy and metrics listeners and live UDP sockets, which no request may reach.
    let ownAddresses = OwnAddresses()
    /// The configured upstreams and their health, kept across reloads that leave an upstream's URL alone.
    let upstreams = UpstreamSet()
    /// Each capped user's bandwidth limiter, shared by all of that user's sessions.
    private let limiters = Mutex<[String: BandwidthLimiter]>([:])

    init(configuration: SOCKSServer.Configuration, openSessions: OpenSessions) {
        loginThrottle = LoginThrottle(settings: Self.throttleSettings(configuration))
        self.openSessions = openSessions
    }

    /// The limiter all of `user`'s sessions share at `bytesPerSecond`; a new one when the cap changed
    /// (sessions that started under the old cap keep the old limiter).
    func bandwidthLimiter(for user: String, bytesPerSecond: Int) -> BandwidthLimiter {
        limiters.withLock { limiters in
            if let limiter = limiters[user], limiter.bytesPerSecond == bytesPerSecond { return limiter }
            let limiter = BandwidthLimiter(bytesPerSecond: bytesPerSecond)
            limiters[user] = limiter
            return limiter
        }
    }

    /// Takes a reloaded configuration's login-throttle settings.
    func update(_ configuration: SOCKSServer.Configuration) {
        loginThrottle.update(Self.throttleSettings(configuration))
    }

    private static func throttleSettings(_ configuration: SOCKSServer.Configuration) -> LoginThrottle.Settings {
        LoginThrottle.Settings(
            failureLimit: configuration.loginFailureLimit, window: .seconds(60),
            backoff: configuration.loginBackoff, backoffLimit: configuration.loginBackoffLimit)
    }
}
