import CSpawn
import Foundation
import Glibc
import Synchronization

/// A child process for tests, started with `posix_spawn` and reaped with `waitpid(WNOHANG)`.
///
/// Foundation's `Process` is not used because on Linux its monitor thread can block in `wait4` on one live
/// child while others go unreaped (every `waitUntilExit` then hangs), and its children inherit the signal
/// mask of a dispatch thread, with SIGTERM blocked. Here the child starts with an empty signal mask and
/// default dispositions, and nothing ever blocks a thread waiting for it.
package final class ChildProcess: Sendable {
    package let pid: pid_t
    private let exitCode = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; standard output and error go to `outputPath` (both, or error to
    /// `errorPath` when given), standard input is /dev/null. The child gets this process's environment with
    /// `environment` set over it.
    package init(
        _ executable: String, _ arguments: [String], outputPath: String = "/dev/null", errorPath: String? = nil,
        environment: [String: String] = [:]
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing else of the test process: descriptors that other tests have open at this moment (not all
        // are close-on-exec) would count against a child's descriptor limit and hold their files open.
        let closing = cspawn_actions_close_from(&actions, 3)
        guard closing == 0 else {
            throw NSError(domain: "ChildProcess", code: Int(closing), userInfo: [NSLocalizedDescriptionKey: "cannot prepare \(executable): \(String(cString: strerror(closing)))"])
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        // strdup'd C strings for argv and envp, freed once posix_spawn has copied them into the child.
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw NSError(domain: "ChildProcess", code: Int(result), userInfo: [NSLocalizedDescriptionKey: "cannot start \(executable): \(String(cString: strerror(result)))"])
        }
        pid = child
    }

    /// Whether the child is still running (reaps it if it has exited).
    package var isRunning: Bool { exitStatusIfExited() == nil }

    /// The exit code (128 + signal number when killed by a signal), once the child has exited.
    package func exitStatusIfExited() -> Int32? {
        exitCode.withLock { code in
            if let code { return code }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are C macros; these are their definitions.
            let signal = status & 0x7f
            code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return code
        }
    }

    /// Waits (without blocking a thread) for the child to exit.
    package func exitStatus(timeout: Duration = .seconds(20)) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let code = exitStatusIfExited() { return code }
            try await Task.sleep(for: .milliseconds(10))
        }
        return exitStatusIfExited()
    }

    package func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)  // SIGKILL ends it at once: this wait is short
        }
    }
}
