import AsyncSockets
import Foundation
import Glibc

/// Tells systemd how the service is doing, as a `Type=notify` unit expects (the sd_notify protocol): one
/// datagram of `KEY=value` lines to the unix socket named by `NOTIFY_SOCKET`.
///
/// Without `NOTIFY_SOCKET` (not started by systemd, or not `Type=notify`) every call does nothing. A call
/// never blocks (the datagram is sent with `MSG_DONTWAIT`: when systemd is not reading, it is dropped) and
/// never fails the caller; it returns whether the datagram went out, for those who care.
package struct SystemdNotifier: Sendable {
    /// The bytes of `sockaddr_un.sun_path` for the socket: a path, or for the abstract namespace a zero byte
    /// then the name. `nil` when there is nothing to notify.
    private let pathBytes: [UInt8]?
    /// Whether `pathBytes` is an abstract name, whose length is part of the name (no terminating zero).
    private let abstract: Bool

    /// Reads `NOTIFY_SOCKET` from `environment`: an absolute path, or `@name` for the abstract namespace.
    /// Any other form (systemd's `vsock:` addresses) or a path too long for a unix address leaves the
    /// notifier disabled.
    ///
    /// - Parameter environment: the process's environment (`ProcessInfo.processInfo.environment`), which
    ///   the caller passes: the library reads none itself.
    package init(environment: [String: String]) {
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        var abstract = false
        var bytes: [UInt8]?
        if let value = environment["NOTIFY_SOCKET"] {
            if value.hasPrefix("/") {
                // A path is zero-terminated, so it must leave room for the zero.
                let path = Array(value.utf8)
                if path.count < capacity && !path.contains(0) { bytes = path }
            } else if value.hasPrefix("@"), value.utf8.count > 1 {
                // The abstract namespace: sun_path starts with a zero byte instead of the `@`.
                let name = [0] + Array(value.utf8.dropFirst())
                if name.count <= capacity {
                    bytes = name
                    abstract = true
                }
            }
        }
        self.pathBytes = bytes
        self.abstract = abstract
    }

    /// Whether `NOTIFY_SOCKET` names a socket this notifier sends to.
    package var isEnabled: Bool { pathBytes != nil }

    /// `READY=1`: start-up is over (every listener is bound), or a reload is.
    @discardableResult
    package func ready() -> Bool { notify("READY=1") }

    /// `RELOADING=1` with `MONOTONIC_USEC` (`CLOCK_MONOTONIC` now, in microseconds): a reload has begun;
    /// send `ready()` when it is over. systemd uses the time to match this to the reload it asked for.
    @discardableResult
    package func reloading() -> Bool {
        notify("RELOADING=1\nMONOTONIC_USEC=\(MonotonicClock.nanoseconds() / 1000)")
    }

    /// `STOPPING=1`: shutdown has begun.
    @discardableResult
    package func stopping() -> Bool { notify("STOPPING=1") }

    /// `STATUS=text`, the one-line status `systemctl status` shows. A line break in `text` becomes a space,
    /// so the text cannot add an assignment of its own.
    @discardableResult
    package func status(_ text: String) -> Bool {
        let line = String(text.map { $0.isNewline ? " " : $0 })
        return notify("STATUS=\(line)")
    }

    /// Sends `state` (newline-separated `KEY=value` assignments) as one datagram. Returns whether it was
    /// sent; `false` when disabled, when systemd's socket is gone, or when its queue is full.
    @discardableResult
    package func notify(_ state: String) -> Bool {
        guard let pathBytes else { return false }
        // SOCK_CLOEXEC: a program started meanwhile must not inherit the socket.
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // `sun_path` is a fixed-size C array imported as a tuple: its bytes are written through a raw buffer
        // over exactly that tuple, valid for this closure only; `init` checked that `pathBytes` fits.
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        // The length covers the family and the name: a path's zero terminator is counted (the rest of
        // sun_path is zero too); an abstract name is exactly its bytes, since zeros after it would be part
        // of the name.
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? MemoryLayout<sa_family_t>.size
        let length = socklen_t(pathOffset + pathBytes.count + (abstract ? 0 : 1))

        let payload = Array(state.utf8)
        while true {
            let sent = payload.withUnsafeBytes { bytes in
                // sendto(2) takes the generic `sockaddr *`; the kernel reads `length` bytes of the
                // sockaddr_un behind it. The rebound pointer lives only for this call.
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL), $0, length)
                    }
                }
            }
            if sent >= 0 { return sent == payload.count }
            guard errno == EINTR else { return false }
        }
    }
}
