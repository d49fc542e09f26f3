import Glibc

/// Whether `bytes` are a name the parsers may take, written again from the rule as `HostName` states it,
/// with none of its code: every byte an ASCII letter, digit, `-`, `_` or `.`, or not ASCII, and then the
/// whole valid UTF-8; or the whole of it IPv6 text, as the C library's `inet_pton` reads it.
func isHostName(_ bytes: some Collection<UInt8>) -> Bool {
    guard !bytes.isEmpty else { return false }
    let letterDigitDashUnderscoreDot: (UInt8) -> Bool = { byte in
        (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2D || byte == 0x5F || byte == 0x2E
    }
    if bytes.allSatisfy({ letterDigitDashUnderscoreDot($0) || $0 >= 0x80 }) {
        return String(validating: bytes, as: UTF8.self) != nil
    }
    guard !bytes.contains(0), bytes.count < 64 else { return false }
    var address = in6_addr()
    return inet_pton(AF_INET6, String(decoding: bytes, as: UTF8.self), &address) == 1
}
