import Glibc

/// The system's crypt(3) library (libxcrypt on Debian and most current distributions), found at run time.
///
/// Loaded with `dlopen` rather than linked, so that building socksd needs nothing beyond the Swift toolchain
/// (no `crypt.h`, no `-lcrypt`), and a daemon whose users file holds only plain passwords never loads it.
/// The library is opened once and never closed, so the function pointers stay valid for the process's life.
///
/// Only the reentrant `crypt_rn` is used: it takes the caller's work area and its size, so concurrent calls
/// on several threads share nothing, and a work area smaller than the library's `struct crypt_data` makes
/// it fail instead of overrunning the buffer.
struct LibCrypt: Sendable {
    /// Why the library is unusable.
    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// `char *crypt_rn(const char *phrase, const char *setting, void *data, int size)`: the hash of `phrase`
    /// with `setting` (a salt from `crypt_gensalt`, or a whole hash to check against) written inside
    /// `data`, or null on any error. (C function pointers are plain addresses: `Sendable`.)
    private typealias CryptRN = @convention(c) (
        UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?, CInt
    ) -> UnsafeMutablePointer<CChar>?

    /// `char *crypt_gensalt_rn(const char *prefix, unsigned long count, const char *rbytes, int nrbytes,
    /// char *output, int output_size)`: a new setting for `prefix`'s method, with random bytes from the
    /// system when `rbytes` is null, or null on an error.
    private typealias CryptGensaltRN = @convention(c) (
        UnsafePointer<CChar>?, CUnsignedLong, UnsafePointer<CChar>?, CInt, UnsafeMutablePointer<CChar>?, CInt
    ) -> UnsafeMutablePointer<CChar>?

    /// `sizeof(struct crypt_data)` in libxcrypt (`crypt.h`: 384 + 384 + 512 + 767 + 1 + 30720), fixed by its
    /// ABI since version 4.0. `crypt_rn` refuses a smaller area with `ERANGE`, so this can only fail safe.
    static let workAreaSize = 32768
    /// `CRYPT_GENSALT_OUTPUT_SIZE` in `crypt.h`: the buffer `crypt_gensalt_rn` needs.
    private static let gensaltOutputSize = 192

    /// The library, loaded on first use; the error says why it cannot be.
    static let system: Result<LibCrypt, LoadError> = load()

    private let cryptRN: CryptRN
    private let cryptGensaltRN: CryptGensaltRN?

    /// Looks for libxcrypt under its compatible name (`libcrypt.so.1`, what Debian and Ubuntu ship), then
    /// under the name of a build without the old glibc interfaces (`libcrypt.so.2`); `crypt_rn` is the same
    /// in both.
    private static func load() -> Result<LibCrypt, LoadError> {
        var failures: [String] = []
        for name in ["libcrypt.so.1", "libcrypt.so.2"] {
            // RTLD_LOCAL: its symbols stay out of the global namespace; RTLD_NOW: a broken library fails here.
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
                failures.append(dlerror().map { String(cString: $0) } ?? "\(name) not found")
                continue
            }
            guard let cryptRN = dlsym(handle, "crypt_rn") else {
                // glibc's own libcrypt before 2.28 has no crypt_rn; its crypt_r needs a 128 KiB struct of
                // another layout, which this type does not try to guess.
                failures.append("\(name) has no crypt_rn (libxcrypt 4 or later is needed)")
                dlclose(handle)
                continue
            }
            // Safe: dlsym returned the address of the exported C functions of these names, whose prototypes
            // in libxcrypt's crypt.h are the ones the aliases above spell; reading an address as a function
            // pointer of the right type is what C callers of dlsym do.
            return .success(LibCrypt(
                cryptRN: unsafeBitCast(cryptRN, to: CryptRN.self),
                cryptGensaltRN: dlsym(handle, "crypt_gensalt_rn").map { unsafeBitCast($0, to: CryptGensaltRN.self) }))
        }
        return .failure(LoadError(description: failures.joined(separator: "; ")))
    }

    /// The hash of `phrase` with `setting`, or nil when libcrypt refuses the setting, or when either holds a
    /// zero byte (a C string would end there, and hash only what comes before it). Blocks for as long as the
    /// method takes (milliseconds for yescrypt): never call it on an event loop.
    func hash(_ phrase: [UInt8], setting: [UInt8]) -> [UInt8]? {
        guard !phrase.contains(0), !setting.contains(0) else { return nil }
        // A fresh work area per call, zeroed: crypt.h asks for the `initialized` field to be zero on the first
        // use of an area, and nothing of another call's phrase can be in it.
        let area = UnsafeMutableRawPointer.allocate(byteCount: Self.workAreaSize, alignment: 16)
        area.initializeMemory(as: UInt8.self, repeating: 0, count: Self.workAreaSize)
        defer {
            // The output field holds the hash; cleared so that freed memory carries none of it.
            area.initializeMemory(as: UInt8.self, repeating: 0, count: Self.workAreaSize)
            area.deallocate()
        }
        // Safe: both arguments are NUL-terminated copies that live until the call returns (withUnsafeBufferPointer
        // keeps them alive and unmoved); `area` holds `workAreaSize` writable bytes, the size passed along,
        // and crypt_rn writes only inside it. The result points into `area`, and is copied out before the
        // deferred deallocation.
        let result: [UInt8]? = (phrase + [0]).withUnsafeBufferPointer { phraseBytes in
            (setting + [0]).withUnsafeBufferPointer { settingBytes in
                phraseBytes.withMemoryRebound(to: CChar.self) { phraseChars in
                    settingBytes.withMemoryRebound(to: CChar.self) { settingChars in
                        guard let output = cryptRN(phraseChars.baseAddress, settingChars.baseAddress, area, CInt(Self.workAreaSize))
                        else { return nil }
                        return Array(UnsafeRawBufferPointer(start: output, count: strlen(output)))
                    }
                }
            }
        }
        // crypt_rn reports errors with null, but a string starting with `*` is crypt(3)'s failure token: refuse
        // it too, whichever convention this build follows.
        guard let result, result.first != UInt8(ascii: "*") else { return nil }
        return result
    }

    /// A new random setting for the method `prefix` names (`"$y$"`, `"$6$"`), at the library's default cost
    /// when `cost` is 0; nil when the library cannot make one (an unknown method, no `crypt_gensalt_rn`).
    /// For making hashes, in tests and tools; the server only checks them.
    func makeSetting(prefix: String, cost: UInt = 0) -> String? {
        guard let cryptGensaltRN else { return nil }
        var output = [CChar](repeating: 0, count: Self.gensaltOutputSize)
        // Safe: `prefix` is passed as a temporary NUL-terminated copy alive for the call; `output` holds
        // `gensaltOutputSize` writable bytes, the size passed along; null random bytes ask libcrypt to read
        // the system's random source itself.
        let made = output.withUnsafeMutableBufferPointer { buffer in
            cryptGensaltRN(prefix, CUnsignedLong(cost), nil, 0, buffer.baseAddress, CInt(buffer.count)) != nil
        }
        guard made, let end = output.firstIndex(of: 0) else { return nil }
        return String(decoding: output[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
