import AsyncSockets
import Foundation
import SOCKSProtocol
import Synchronization

/// The threads that check passwords against crypt(3) hashes, and through PAM, away from the event loops.
///
/// A yescrypt check takes milliseconds of CPU: on a loop thread it would stall every session of that loop.
/// The pool is its own, not the name resolver's, so that a flood of logins cannot starve name resolution;
/// it is small (a hash is pure CPU, more threads than cores would only share them) and its queue is
/// bounded: when logins come faster than the threads can hash, a login that finds the queue full fails at
/// once, as a wrong password would, instead of waiting behind work that cannot keep up. A PAM login takes a
/// turn here too: it blocks for as long as its modules take (a directory server's answer, a script), and
/// shares the same bound, so that slow PAM logins cannot pile up threads or stall an event loop.
enum PasswordCheckPool {
    /// Half the cores this process may use (as the event loops count them), at least 2 and at most 4.
    static let threads = max(2, min(4, ProcessInfo.processInfo.activeProcessorCount / 2))
    /// At about 20 ms a yescrypt check, 64 queued checks on 2 threads wait at most some 0.6 s.
    static let maximumQueuedChecks = 64
    /// How long a login waits for its check before failing: a bound for a stuck thread or a method with
    /// an extreme cost (the handshake timeout closes the connection, but does not end this wait).
    static let timeout: Duration = .seconds(10)

    /// The threads and their queue; internal so that tests can occupy them and fill the queue.
    static let pool = BlockingThreadPool(
        maximumThreads: threads, maximumQueuedJobs: maximumQueuedChecks, threadName: "socksd-crypt")

    /// How many checks (hashes computed and PAM logins) the pool has run since the process started: what
    /// tests read to see that a login was checked on the pool (its cost cannot be told apart by timing).
    static var checksPerformed: Int { performed.load(ordering: .relaxed) }
    private static let performed = Atomic<Int>(0)

    /// Whether `password` matches `hash`, checked on one of the pool's threads; `nil` when it could not be
    /// checked: the queue is full, the wait timed out, or the calling task was cancelled.
    static func check(_ password: [UInt8], against hash: CryptHash) async -> Bool? {
        do {
            return try await pool.run(timeout: timeout) {
                defer { performed.add(1, ordering: .relaxed) }
                return hash.matches(password)
            }
        } catch {
            return nil
        }
    }

    /// How `credentials` fare through `service` from `remoteHost` (PAM_RHOST), logged in on one of the pool's
    /// threads; `nil` when it could not be checked: the queue is full, the wait timed out (the login still
    /// ends on its thread, and its answer is dropped), or the calling task was cancelled.
    static func login(_ credentials: SOCKSCredentials, from remoteHost: String?, through service: PAMService) async -> LibPAM.Outcome? {
        do {
            return try await pool.run(timeout: timeout) {
                defer { performed.add(1, ordering: .relaxed) }
                return service.login(credentials, remoteHost: remoteHost)
            }
        } catch {
            return nil
        }
    }

    /// One GSS-API context-establishment token accepted into `context` on one of the pool's threads (the
    /// library reads the keytab and writes the replay cache); `nil` when it could not be: the queue is full,
    /// the wait timed out, or the calling task was cancelled.
    static func accept(_ token: [UInt8], into context: GSSAPISecurityContext) async -> GSSAPISecurityContext.Acceptance? {
        do {
            return try await pool.run(timeout: timeout) {
                defer { performed.add(1, ordering: .relaxed) }
                return context.accept(token)
            }
        } catch {
            return nil
        }
    }
}
