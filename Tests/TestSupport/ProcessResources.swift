import Foundation
import Glibc

/// What one process holds at one moment, read from `/proc`: its open descriptors (by kind), its resident
/// set and its proportional set size.
///
/// Tests count a child process (a daemon they started), never their own: Swift Testing runs tests in
/// parallel in one process, so the test process's own counts move with every other test.
package struct ProcessResources: Sendable, CustomStringConvertible {
    /// Entries in `/proc/PID/fd`.
    package var openDescriptors: Int
    /// Descriptors that are sockets, pipes, and anything else (epoll, eventfd, files).
    package var sockets: Int
    package var pipes: Int
    package var otherDescriptors: Int { openDescriptors - sockets - pipes }
    /// Everything but pipe ends.
    package var descriptorsOtherThanPipes: Int { openDescriptors - pipes }
    /// `VmRSS` from `/proc/PID/status`, in KiB, and the anonymous part of it (`RssAnon`: heap, stacks;
    /// the rest is mapped files such as code, and shared memory).
    package var residentKiB: Int
    package var residentAnonymousKiB: Int
    /// `Pss` from `/proc/PID/smaps_rollup`, in KiB: shared pages counted in proportion to their sharers.
    package var proportionalKiB: Int

    /// Reads `pid`'s resources now.
    ///
    /// - Throws: `ProcessResources.Unreadable` when the process is gone (or `/proc` says nothing useful).
    package static func of(_ pid: pid_t) throws -> ProcessResources {
        let (total, sockets, pipes) = try descriptors(of: pid)
        let status = "/proc/\(pid)/status"
        return ProcessResources(
            openDescriptors: total, sockets: sockets, pipes: pipes,
            residentKiB: try kibibytes(named: "VmRSS:", in: status),
            residentAnonymousKiB: try kibibytes(named: "RssAnon:", in: status),
            proportionalKiB: try kibibytes(named: "Pss:", in: "/proc/\(pid)/smaps_rollup"))
    }

    /// The soft limit on open descriptors (`ulimit -n`) of `pid`, from `/proc/PID/limits`.
    package static func descriptorLimit(of pid: pid_t) throws -> Int {
        let path = "/proc/\(pid)/limits"
        guard let text = readWhole(path) else { throw Unreadable(path: path) }
        // "Max open files            1024                 4096                 files"
        for line in text.split(separator: "\n") where line.hasPrefix("Max open files") {
            let fields = line.dropFirst("Max open files".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let soft = fields.first { return Int(soft) ?? Int.max }  // "unlimited"
        }
        throw Unreadable(path: path)
    }

    /// The sum of `Pss` over `pids` (a process and its children share pages; Pss divides them fairly).
    package static func proportionalKiB(of pids: [pid_t]) throws -> Int {
        try pids.reduce(0) { $0 + (try kibibytes(named: "Pss:", in: "/proc/\($1)/smaps_rollup")) }
    }

    package var description: String {
        "\(openDescriptors) descriptors (\(sockets) sockets, \(pipes) pipe ends, \(otherDescriptors) other), RSS \(residentKiB) KiB (\(residentAnonymousKiB) anonymous), Pss \(proportionalKiB) KiB"
    }

    /// `/proc` could not be read for this process.
    package struct Unreadable: Error, CustomStringConvertible {
        package let path: String
        package var description: String { "cannot read \(path) (has the process exited?)" }
    }

    /// Samples `pid` every `interval` until `condition` holds or `timeout` has passed, and returns the last
    /// sample either way: the caller asserts on it, so a failure shows the figures that were reached.
    ///
    /// This is how a test says "eventually": a daemon on a busy machine (both cores loaded) may take a
    /// while to run its teardown, so a test never asserts after a fixed sleep, only within a generous bound.
    package static func poll(
        _ pid: pid_t, within timeout: Duration, every interval: Duration = .milliseconds(50),
        until condition: (ProcessResources) -> Bool
    ) async throws -> ProcessResources {
        let deadline = ContinuousClock.now + timeout
        var sample = try of(pid)
        while !condition(sample) && ContinuousClock.now < deadline {
            try await Task.sleep(for: interval)
            sample = try of(pid)
        }
        return sample
    }

    /// Counts `/proc/PID/fd`, telling sockets and pipes apart by where each link points.
    private static func descriptors(of pid: pid_t) throws -> (total: Int, sockets: Int, pipes: Int) {
        let directory = "/proc/\(pid)/fd"
        guard let stream = opendir(directory) else { throw Unreadable(path: directory) }
        defer { closedir(stream) }
        var total = 0, sockets = 0, pipes = 0
        var target = [CChar](repeating: 0, count: 256)
        while let entry = readdir(stream) {
            // d_name is declared as a 256-byte array, but the kernel's record ends after the name's NUL: the
            // last record of readdir's buffer can be shorter than the struct, so the name is read through a
            // pointer up to its NUL (copying the whole field read past the buffer under AddressSanitizer, with
            // a few thousand descriptors). It is read before the next readdir call, which may reuse that storage.
            let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            guard name != ".", name != ".." else { continue }
            total += 1
            // A descriptor closed between readdir and readlink reads as nothing: it is counted as "other".
            let length = readlink("\(directory)/\(name)", &target, target.count - 1)
            guard length > 0 else { continue }
            let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if link.hasPrefix("socket:") { sockets += 1 } else if link.hasPrefix("pipe:") { pipes += 1 }
        }
        return (total, sockets, pipes)
    }

    /// The number of KiB on the line starting with `field` (`VmRSS:\t   1234 kB`: a tab, then spaces).
    private static func kibibytes(named field: String, in path: String) throws -> Int {
        guard let text = readWhole(path) else { throw Unreadable(path: path) }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            if let value = line.dropFirst(field.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap({ Int($0) }) { return value }
        }
        throw Unreadable(path: path)
    }

    /// A `/proc` file's text. Read until EOF with `read(2)`: these files report a size of 0, so readers that
    /// trust the size (Foundation's `String(contentsOfFile:)` among them) see them empty or fail.
    package static func readWhole(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
