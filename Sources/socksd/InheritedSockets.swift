import AsyncSockets
import Glibc
import SOCKSServer

/// The listening sockets socksd was started with, from systemd's socket activation or from the previous
/// socksd of an upgrade, and where to say that it is ready during an upgrade.
///
/// systemd's convention (sd_listen_fds(3)): `LISTEN_PID` is this process's PID, `LISTEN_FDS` the number of
/// sockets, which are descriptors 3, 4, …; `LISTEN_FDNAMES` names them (socksd matches by address and does
/// not need the names). An upgrade cannot know the new PID before it starts, so it uses variables of
/// socksd's own: `SOCKSD_UPGRADE_FDS` (the count, descriptors from 3 as well) and `SOCKSD_UPGRADE_READY_FD`
/// (a pipe the new process writes one byte to once it listens).
struct InheritedSockets {
    /// The first passed descriptor (`SD_LISTEN_FDS_START`).
    static let firstDescriptor: Int32 = 3
    static let upgradeCountVariable = "SOCKSD_UPGRADE_FDS"
    static let upgradeReadyVariable = "SOCKSD_UPGRADE_READY_FD"
    /// Every variable that describes passed descriptors: a process socksd starts gets none of them from
    /// this process's environment, only those its starter sets for it.
    static let variables: Set<String> = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", upgradeCountVariable, upgradeReadyVariable]

    /// A variable that does not say what it should; socksd exits 64.
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// The passed listening descriptors, in order.
    let descriptors: [Int32]
    /// During an upgrade, the pipe to the old process.
    let readyDescriptor: Int32?

    /// Reads `environment`. The descriptors are not touched here; `listeners()` adopts them.
    init(environment: [String: String], pid: pid_t = getpid()) throws(Problem) {
        func count(_ name: String) throws(Problem) -> Int {
            guard let text = environment[name], let count = Int(text), count >= 0, count < 4096 else {
                throw Problem(description: "\(name)='\(environment[name] ?? "")' is not a number of descriptors")
            }
            return count
        }
        if let upgrade = environment[Self.upgradeCountVariable], !upgrade.isEmpty {
            let number = try count(Self.upgradeCountVariable)
            descriptors = (0..<number).map { Self.firstDescriptor + Int32($0) }
            guard let text = environment[Self.upgradeReadyVariable], let ready = Int32(text), ready >= Self.firstDescriptor else {
                throw Problem(description: "\(Self.upgradeReadyVariable) is missing or not a descriptor")
            }
            readyDescriptor = ready
            // Only this process writes to it: a program it starts must not hold it open.
            _ = fcntl(ready, F_SETFD, FD_CLOEXEC)
        } else if let listenPID = environment["LISTEN_PID"], listenPID == String(pid), environment["LISTEN_FDS"] != nil {
            let number = try count("LISTEN_FDS")
            descriptors = (0..<number).map { Self.firstDescriptor + Int32($0) }
            readyDescriptor = nil
        } else {
            descriptors = []
            readyDescriptor = nil
        }
    }

    /// Takes over every passed descriptor as a listener.
    ///
    /// - Throws: `Problem` for a descriptor that is not a listening TCP socket.
    func listeners() throws(Problem) -> PassedListeners {
        var listeners: [TCPListener] = []
        for descriptor in descriptors {
            do {
                listeners.append(try TCPListener(adopting: descriptor))
            } catch {
                listeners.forEach { $0.release() }
                throw Problem(description: "passed descriptor \(descriptor): \(error)")
            }
        }
        return PassedListeners(listeners)
    }

    /// Tells the old process of an upgrade that this one listens: one byte down the pipe, which is then
    /// closed. Does nothing when socksd was not started by an upgrade.
    func announceReady() {
        guard let readyDescriptor else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(readyDescriptor, &byte, 1)
        Glibc.close(readyDescriptor)
    }
}
