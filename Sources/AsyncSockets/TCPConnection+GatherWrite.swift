import Glibc

extension TCPConnection {
    /// Writes `header` then `payload`, both whole, with one `sendmsg` that gathers them when the socket takes
    /// it all (a relay prepends a frame header to a payload that lies in a reader's buffer, without copying
    /// the payload); what a short write leaves is written as `write` does, waiting for buffer space.
    nonisolated(nonsending) package func write(header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>) async throws {
        let fd = descriptor.fd
        let written = try descriptor.attempt(operation: "sendmsg") {
            header.withUnsafeBytes { header in
                payload.withUnsafeBytes { payload in
                    // The pointers are valid only inside these closures, which the call does not outlive;
                    // `sendmsg` only reads through them (the `mutating` casts are what its C types ask for); `MSG_NOSIGNAL`
                    // as in `write`: a closed peer is an error, not a `SIGPIPE`.
                    withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { parts in
                        parts[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count)
                        parts[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count)
                        var message = msghdr()
                        message.msg_iov = parts.baseAddress
                        message.msg_iovlen = 2
                        return Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
                    }
                }
            }
        } ?? 0
        if written < header.count {
            try await write(header[(header.startIndex + written)...])
            try await write(payload)
        } else {
            try await write(payload[(payload.startIndex + written - header.count)...])
        }
    }
}
