import AsyncSockets
import SOCKSProtocol

/// The login stage: a user name and password (RFC 1929, or HTTP Basic) taken past the client address's
/// login throttle to the user database, and a failure counted towards that address's backoff.
///
/// A client with as many logins in flight as it has tries left waits for them, polling on its connection's
/// loop timer at doubling intervals (20 ms up to 1 s, so a crowd of waiting logins costs few wake-ups)
/// within the handshake deadline, which closes the connection; one serving a backoff, or whose password
/// cannot be checked now, is refused unchecked, and the refusal is summarised in the log rather than logged
/// one by one.
struct LoginGate {
    /// How a login ended: checked (right or wrong; when right, the name a PAM stack returned, if it
    /// changed the one given), or refused without a check.
    enum Decision {
        case checked(Bool, user: String? = nil)
        case refusedUnchecked(HandshakeError)
    }

    let context: SessionContext
    /// The client whose address the throttle counts.
    let client: SocketAddress
    /// The client's connection: a login stops waiting for the throttle once it is closed.
    let connection: TCPConnection

    /// Checks `credentials` against the configured users (none configured: every login fails).
    nonisolated(nonsending) func check(_ credentials: SOCKSCredentials) async -> Decision {
        if let refusal = await admit() { return refusal }
        let throttle = context.loginThrottle
        let verification = await context.configuration.users?.check(credentials, remoteHost: client.ip.unmapped.description) ?? .rejected
        let outcome = throttle.endAttempt(client.ip, failed: verification == .rejected)
        switch verification {
        case .accepted(let user):
            return .checked(true, user: user)
        case .rejected:
            context.metrics.loginFailed()
            if case .blocked(let backoff) = outcome {
                let settings = throttle.settings
                context.logger.warning(
                    "login throttling: \(client.ip.clientNetwork) failed \(settings.failureLimit) logins within \(settings.window); refusing its logins for \(backoff)")
            }
            return .checked(false)
        case .unavailable:
            // The hash checker is saturated: refuse, but this is no failed guess of the client's.
            context.metrics.loginUnchecked()
            context.busyCheckerReport { [client, context] in
                context.logger.warning("session \(client): login refused: the password checker is busy")
            }
            return .refusedUnchecked(.checkerBusy)
        }
    }

    /// Takes the client past its address's login throttle: nil when it may try, else the refusal (counted
    /// and summarised in the log).
    private nonisolated(nonsending) func admit() async -> Decision? {
        let throttle = context.loginThrottle
        var pollInterval = Duration.milliseconds(20)
        var waited = Duration.zero
        while true {
            switch throttle.beginAttempt(client.ip) {
            case .proceed:
                return nil
            case .wait where waited < context.configuration.handshakeTimeout && !connection.isClosed:
                try? await connection.eventLoop.sleep(for: pollInterval)
                waited += pollInterval
                pollInterval = min(pollInterval * 2, .seconds(1))
            case .wait, .refuse:
                context.metrics.loginThrottled()
                context.throttledLoginReport { [client, context] in
                    context.logger.warning("session \(client): login refused: this address is throttled after too many failed logins")
                }
                return .refusedUnchecked(.throttled)
            }
        }
    }

    /// One round of a GSS-API login (RFC 1961): the client's `token` accepted into `securityContext` on the
    /// password-check threads (it reads the keytab and the replay cache), past the same throttle as a
    /// password; a refused token counts as a failed login.
    nonisolated(nonsending) func accept(_ token: [UInt8], into securityContext: GSSAPISecurityContext) async -> GSSAPIDecision {
        if case .refusedUnchecked(let reason)? = await admit() { return .refusedUnchecked(reason) }
        guard let acceptance = await PasswordCheckPool.accept(token, into: securityContext) else {
            _ = context.loginThrottle.endAttempt(client.ip, failed: false)
            context.metrics.loginUnchecked()
            context.busyCheckerReport { [client, context] in
                context.logger.warning("session \(client): login refused: the password checker is busy")
            }
            return .refusedUnchecked(.checkerBusy)
        }
        let failed: Bool
        if case .failed = acceptance { failed = true } else { failed = false }
        let outcome = context.loginThrottle.endAttempt(client.ip, failed: failed)
        if failed {
            context.metrics.loginFailed()
            if case .blocked(let backoff) = outcome {
                let settings = context.loginThrottle.settings
                context.logger.warning(
                    "login throttling: \(client.ip.clientNetwork) failed \(settings.failureLimit) logins within \(settings.window); refusing its logins for \(backoff)")
            }
        }
        return .checked(acceptance)
    }

    /// How one round of a GSS-API login ended: accepted by the library (which may still refuse the token),
    /// or refused without asking it.
    enum GSSAPIDecision {
        case checked(GSSAPISecurityContext.Acceptance)
        case refusedUnchecked(HandshakeError)
    }
}
