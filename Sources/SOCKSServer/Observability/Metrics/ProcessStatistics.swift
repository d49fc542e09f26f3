import Glibc

/// What the process holds now, read when a scrape asks (`/proc/self`, `getrlimit`, the CPU clock): the
/// standard `process_*` metrics. Each reading is nil when the system does not say.
enum ProcessStatistics {
    /// Entries in `/proc/self/fd`, less the descriptor that lists them.
    static var openDescriptors: Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        // readdir returns a pointer into the directory stream's own buffer, valid until the next call;
        // only the first byte of its name is read, at once, to skip "." and "..".
        while let entry = readdir(directory) {
            if UInt8(bitPattern: entry.pointee.d_name.0) != UInt8(ascii: ".") { count += 1 }
        }
        // The listing includes the descriptor opendir opened for it.
        return max(0, count - 1)
    }

    /// The soft limit on open descriptors.
    static var descriptorLimit: Int? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        // RLIM_INFINITY is all ones, which Swift cannot import as a constant of the unsigned type.
        return limit.rlim_cur == rlim_t.max ? nil : Int(clamping: limit.rlim_cur)
    }

    /// Resident and virtual memory in bytes, from `/proc/self/statm` (pages: size, resident, …).
    static var memory: (resident: Int, virtual: Int)? {
        guard let text = readSmallFile("/proc/self/statm") else { return nil }
        let fields = text.split(separator: " ")
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard fields.count >= 2, let size = Int(fields[0]), let resident = Int(fields[1]), pageSize > 0 else { return nil }
        return (resident * pageSize, size * pageSize)
    }

    /// User and system CPU time used by the process, in seconds.
    static var cpuSeconds: Double? {
        var time = timespec()
        guard clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time) == 0 else { return nil }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The text of a small `/proc` file (at most 4 KiB are read).
    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}
