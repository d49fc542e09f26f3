import Foundation
import Glibc

/// A unix datagram socket bound to a file in a directory of its own, for a test that stands in for a
/// peer such as systemd's notification socket (`NOTIFY_SOCKET`): a child process sends datagrams to `path`,
/// the test receives them in order.
///
/// Receiving never blocks a thread: the socket is nonblocking, and `receive(within:)` sleeps between tries,
/// so a test waiting for a datagram leaves the cooperative pool to the tests running beside it.
package final class UnixDatagramReceiver: Sendable {
    /// The socket file, to give the sender.
    package let path: String
    private let directory: String
    private let descriptor: Int32

    /// What could not be set up.
    package struct SetupError: Error, CustomStringConvertible {
        package let description: String
    }

    /// Makes a fresh directory in the temporary directory and binds `notify` in it.
    package init() throws {
        // A short name: sun_path holds 108 bytes, and the temporary directory may already be long.
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("socksd-dgram-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        path = directory + "/notify"
        let pathBytes = Array(path.utf8)
        var address = sockaddr_un()
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            try? FileManager.default.removeItem(atPath: directory)
            throw SetupError(description: "\(path) is too long for a unix socket address")
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else {
            let error = errno
            try? FileManager.default.removeItem(atPath: directory)
            throw SetupError(description: "socket(AF_UNIX, SOCK_DGRAM): \(String(cString: strerror(error)))")
        }
        address.sun_family = sa_family_t(AF_UNIX)
        // sun_path is a fixed-size C array (a tuple in Swift): its bytes are written through a raw buffer
        // that is valid only inside this closure. The zero that ends the path is already there: `address`
        // started zeroed, and the path is shorter than the array (checked above).
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + pathBytes.count + 1)
        // bind(2) takes the generic `sockaddr *`; it reads `length` bytes of the sockaddr_un during the call
        // only, so viewing the local as a sockaddr for the call's duration is sound.
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            let error = errno
            Glibc.close(descriptor)
            try? FileManager.default.removeItem(atPath: directory)
            throw SetupError(description: "bind \(path): \(String(cString: strerror(error)))")
        }
    }

    deinit {
        Glibc.close(descriptor)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The next datagram as text, if one is waiting now.
    package func receiveNow() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            // recv writes at most `count` bytes into the array's storage, which the closure keeps alive.
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            return String(decoding: buffer[0..<count], as: UTF8.self)
        }
    }

    /// The next datagram, waiting for it up to `timeout` (checking every 10 ms); `nil` if none came.
    package func receive(within timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let datagram = receiveNow() { return datagram }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
