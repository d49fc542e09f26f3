/// The rule for a name a client asks the server to reach: a SOCKS5 domain (ATYP 03, in a request or a UDP
/// request header), a SOCKS4a host name, a UoT domain address.
///
/// A name is taken when each of its bytes is an ASCII letter, digit, `-`, `_` or `.`, or belongs to valid
/// UTF-8 (an internationalised name in its Unicode form, passed on as sent); or when the whole name is IPv6
/// address text (`::1`), which some clients send as a name and the server reads as that address. Anything
/// else — NUL, spaces, `%`, `/`, `@`, `:` outside an address, control bytes, bytes that are not UTF-8 — is
/// refused, never altered: decoding such bytes with U+FFFD in their place would have the server judge and
/// resolve a different name than the one the client sent.
package enum HostName {
    /// The name as text when the bytes are one (see above), nil otherwise (and for no bytes at all). The
    /// text's UTF-8 is exactly `bytes`.
    package static func text(_ bytes: some Collection<UInt8>) -> String? {
        guard !bytes.isEmpty else { return nil }
        var isASCII = true
        for byte in bytes where !isNameByte(byte) {
            guard byte >= 0x80 else { return ipv6Text(bytes) }
            isASCII = false
        }
        return isASCII ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
    }

    /// Whether `bytes` are a name by this rule.
    package static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        text(bytes) != nil
    }

    /// An ASCII letter, digit, `-`, `_` or `.`.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }

    /// The bytes as text when they are all ASCII and IPv6 address text.
    private static func ipv6Text(_ bytes: some Collection<UInt8>) -> String? {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        return IPAddressText.parseIPv6(text) != nil ? text : nil
    }
}
