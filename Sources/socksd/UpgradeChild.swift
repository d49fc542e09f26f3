import AsyncSockets
import CEpoll
import Foundation
import Glibc

/// The new process of an upgrade: started with the listening sockets as descriptors 3, 4, … and the write
/// end of a pipe after them, on which it says it is ready (`InheritedSockets`).
///
/// Every other descriptor of socksd is close-on-exec (sockets, accepted connections, splice pipes, the
/// epoll and event descriptors, the log file), so the new process holds nothing of the old one's sessions.
/// It runs in a process group of its own, so that stopping a failed one also stops what it started (a
/// wrapper script's children).
struct UpgradeChild {
    /// Why it could not start.
    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    /// The read end of the ready pipe: nonblocking, close-on-exec.
    private let readyPipe: Int32

    /// Starts `executable` with `arguments` (`argv[0]` first), this process's environment (less the
    /// variables of passed descriptors) and `sockets` passed on.
    static func start(executable: String, arguments: [String], sockets: [TCPListener]) throws(StartError) -> UpgradeChild {
        let count = Int32(sockets.count)
        let readyTarget = InheritedSockets.firstDescriptor + count
        // Every descriptor to move lies above the targets first, so that one move never overwrites another's
        // source; all close-on-exec here (dup2 in the child clears the flag on the target only).
        let above = readyTarget + 1
        var duplicates: [Int32] = []
        defer { duplicates.forEach { Glibc.close($0) } }
        for socket in sockets {
            do {
                duplicates.append(try socket.duplicateDescriptor(atLeast: above))
            } catch {
                throw StartError(description: "cannot pass \(socket.localAddress): \(error)")
            }
        }
        var pipeEnds: [Int32] = [-1, -1]
        // Nonblocking and close-on-exec (the pipe of the splice relays, at its smallest size).
        guard cepoll_pipe(&pipeEnds, 4096) >= 0 else {
            throw StartError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        let writeEnd = fcntl(pipeEnds[1], F_DUPFD_CLOEXEC, above)
        Glibc.close(pipeEnds[1])
        guard writeEnd >= 0 else {
            Glibc.close(pipeEnds[0])
            throw StartError(description: "dup: \(String(cString: strerror(errno)))")
        }
        duplicates.append(writeEnd)
        // The write end is blocking in the child: it writes one byte to an empty pipe.
        _ = fcntl(writeEnd, F_SETFL, 0)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (index, duplicate) in duplicates.dropLast().enumerated() {
            posix_spawn_file_actions_adddup2(&actions, duplicate, InheritedSockets.firstDescriptor + Int32(index))
        }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, readyTarget)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // An empty mask and default actions, as for a process started afresh: this one's dispatch threads
        // block signals, and it ignores SIGPIPE and (until handled) SIGHUP and the SIGUSRs.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var environment = ProcessInfo.processInfo.environment.filter { !InheritedSockets.variables.contains($0.key) }
        environment[InheritedSockets.upgradeCountVariable] = String(count)
        environment[InheritedSockets.upgradeReadyVariable] = String(readyTarget)
        // strdup'd C strings, freed once posix_spawn has copied them into the child.
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            Glibc.close(pipeEnds[0])
            throw StartError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return UpgradeChild(pid: pid, readyPipe: pipeEnds[0])
    }

    /// Whether the new process has written its ready byte.
    func saidReady() -> Bool {
        var byte: UInt8 = 0
        return Glibc.read(readyPipe, &byte, 1) == 1
    }

    func closeReadyPipe() {
        Glibc.close(readyPipe)
    }

    /// How the process ended (`exited with status 1`, `was killed by signal 9`), reaping it; nil while it runs.
    func exitDescription() -> String? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are C macros; these are their definitions.
        let signal = status & 0x7f
        return signal == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(signal)"
    }

    /// Stops the process and its group if they still run, reaps it, and closes the pipe.
    func stop() {
        _ = kill(-pid, SIGKILL)
        if kill(pid, SIGKILL) == 0 {
            var status: Int32 = 0
            // SIGKILL ends it at once: this wait is short.
            _ = waitpid(pid, &status, 0)
        }
        closeReadyPipe()
    }
}
