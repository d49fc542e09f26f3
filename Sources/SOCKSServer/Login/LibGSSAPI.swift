import CGSSAPI
import Glibc

/// The system's GSS-API library (MIT Kerberos' `libgssapi_krb5.so.2`), found at run time.
///
/// Loaded with `dlopen` rather than linked, as `LibPAM` is, so that building socksd needs no Kerberos headers
/// and a daemon without `--gssapi-keytab` never loads Kerberos. The library is opened once and never closed,
/// so the function addresses stay valid for the process's life. The calls themselves run in C (CGSSAPI),
/// which holds GSS-API's structs and copies the library's buffers into memory of its own.
struct LibGSSAPI: Sendable {
    /// Why the library is unusable.
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// The library, loaded on first use; the error says why it cannot be.
    static let system: Result<LibGSSAPI, LoadError> = load(name: "libgssapi_krb5.so.2")

    /// The functions' addresses in `cgss_functions`' order, as integers so that the value is `Sendable` (a
    /// raw pointer is not); turned back into `cgss_functions` for each call.
    private let addresses: [UInt]

    /// The symbols CGSSAPI calls, in `cgss_functions`' order; every one is required.
    private static let symbols = [
        "gss_import_name", "gss_release_name", "gss_acquire_cred_from", "gss_release_cred", "gss_accept_sec_context",
        "gss_display_name", "gss_release_buffer", "gss_delete_sec_context", "gss_wrap", "gss_unwrap", "gss_display_status",
    ]

    /// Opens `name` and finds the functions the acceptor calls.
    static func load(name: String) -> Result<LibGSSAPI, LoadError> {
        // RTLD_LOCAL: its symbols stay out of the global namespace; RTLD_NOW: a broken library fails here.
        guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(LoadError(description: dlerror().map { String(cString: $0) } ?? "\(name) not found"))
        }
        let addresses = symbols.map { symbol in dlsym(handle, symbol).map { UInt(bitPattern: $0) } ?? 0 }
        let missing = zip(symbols, addresses).filter { $0.1 == 0 }.map(\.0)
        guard missing.isEmpty else {
            dlclose(handle)
            return .failure(LoadError(description: "\(name) has no \(missing.joined(separator: ", ")) (MIT Kerberos 1.11 or later is needed)"))
        }
        return .success(LibGSSAPI(addresses: addresses))
    }

    /// The addresses as CGSSAPI takes them.
    var functions: cgss_functions {
        func pointer(_ index: Int) -> UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: addresses[index]) }
        return cgss_functions(
            gss_import_name: pointer(0), gss_release_name: pointer(1), gss_acquire_cred_from: pointer(2), gss_release_cred: pointer(3),
            gss_accept_sec_context: pointer(4), gss_display_name: pointer(5), gss_release_buffer: pointer(6),
            gss_delete_sec_context: pointer(7), gss_wrap: pointer(8), gss_unwrap: pointer(9), gss_display_status: pointer(10))
    }

    /// The library's words for `status` (major, then minor), for a log line.
    func describe(_ status: cgss_status) -> String {
        var functions = functions
        var text = [CChar](repeating: 0, count: 512)
        // Safe: `text` is a local array of `text.count` bytes that cgss_status_text fills and zero-terminates
        // within that count; `functions` is a local passed by address for the call.
        text.withUnsafeMutableBufferPointer { buffer in
            cgss_status_text(&functions, status, buffer.baseAddress, buffer.count)
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Takes a buffer CGSSAPI malloc'd (NULL for none): its bytes as an array, and the memory freed.
    static func take(_ bytes: UnsafeMutablePointer<UInt8>?, count: Int) -> [UInt8] {
        guard let bytes else { return [] }
        // Safe: CGSSAPI malloc'd `count` bytes at `bytes` for the caller, who frees them here once copied.
        defer { free(bytes) }
        return Array(UnsafeBufferPointer(start: bytes, count: count))
    }
}
