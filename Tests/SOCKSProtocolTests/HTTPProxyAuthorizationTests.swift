import Testing
@testable import SOCKSProtocol

/// `Proxy-Authorization: Basic` and the base64 decoder under it.
@Suite struct HTTPProxyAuthorizationTests {
    static func authorization(_ value: String) -> HTTPProxyAuthorization {
        HTTPProxyAuthorization(fieldValue: Array(value.utf8))
    }

    @Test(arguments: [
        ("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"), ("Zm9vYmE=", "fooba"), ("Zm9vYmFy", "foobar"),
        ("Zg", "f"), ("Zm8", "fo"), ("Zm9vYg", "foob"),
    ])
    func rfc4648Vectors(encoded: String, decoded: String) {
        #expect(Base64.decode(Array(encoded.utf8)) == Array(decoded.utf8))
    }

    @Test func everyByteValueRoundTrips() {
        // Encoded by hand from the alphabet, so the decoder is checked against an independent encoder.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let bytes = (0...255).map { UInt8($0) } + [0xFF, 0xFE]
        for count in 0...bytes.count where count % 37 == 0 || count > 250 {
            let input = Array(bytes.prefix(count))
            var encoded: [UInt8] = []
            for start in stride(from: 0, to: input.count, by: 3) {
                let group = input[start..<min(start + 3, input.count)]
                let value = group.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
                for index in 0..<(group.count + 1) { encoded.append(alphabet[Int(value >> (18 - 6 * UInt32(index)) & 0x3F)]) }
                encoded += Array(repeating: UInt8(ascii: "="), count: 3 - group.count)
            }
            #expect(Base64.decode(encoded) == input, "\(count) bytes")
        }
    }

    @Test(arguments: ["Z", "Zg=", "Zg===", "Z===", "Zm9=v", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "Zm-v", "Zm_v", "====", "Zg==Zg=="])
    func nonCanonicalBase64IsRefused(encoded: String) {
        #expect(Base64.decode(Array(encoded.utf8)) == nil, "\(encoded.debugDescription)")
    }

    @Test func basicCredentials() {
        #expect(Self.authorization("Basic dXNlcjpwdw==") == .basic(SOCKSCredentials(username: "user", password: "pw")))
        #expect(Self.authorization("basic  dXNlcjpwdw==") == .basic(SOCKSCredentials(username: "user", password: "pw")))
        #expect(Self.authorization("BASIC dXNlcjpwdw") == .basic(SOCKSCredentials(username: "user", password: "pw")))
        // RFC 7617: the first colon ends the user; the password may hold colons, and may be empty.
        #expect(Self.authorization("Basic dTpwOnc6") == .basic(SOCKSCredentials(username: "u", password: "p:w:")))
        #expect(Self.authorization("Basic dXNlcjo=") == .basic(SOCKSCredentials(username: "user", password: "")))
        // UTF-8 (curl sends the bytes it was given): kept as bytes.
        #expect(Self.authorization("Basic w6k6w7w=") == .basic(SOCKSCredentials(username: [0xC3, 0xA9], password: [0xC3, 0xBC])))
        #expect("\(Self.authorization("Basic dXNlcjpwdw=="))" == "Basic user:<redacted>")
    }

    @Test(arguments: ["", "Basic", "Basic ", "Bearer dXNlcjpwdw==", "Digest username=\"user\"", "Basic dXNlcnB3", "Basic dXNlcjpwdw==,", "Basic !!!!", "Basicx dXNlcjpwdw=="])
    func unusableValuesAreNoCredentials(value: String) {
        #expect(Self.authorization(value) == .absent, "\(value.debugDescription)")
    }

    @Test func overlongFieldsAreWrongCredentials() {
        let limit = Array(repeating: UInt8(ascii: "a"), count: 255)
        func encoded(_ bytes: [UInt8]) -> [UInt8] {
            // Base64 of a multiple of 3 bytes of 'a' is "YWFh" repeated.
            precondition(bytes.count % 3 == 0)
            return Array("Basic ".utf8) + Array(repeating: Array("YWFh".utf8), count: bytes.count / 3).flatMap { $0 }
        }
        // 255 'a', a colon written as the group "OmFh" (":aa") keeps the counts easy: user 255, password 2 + …
        let atLimit = encoded(limit) + Array("OmFh".utf8) + Array(repeating: Array("YWFh".utf8), count: 84).flatMap { $0 } + Array("YQ==".utf8)
        #expect(HTTPProxyAuthorization(fieldValue: atLimit) == .basic(SOCKSCredentials(username: limit, password: Array(repeating: UInt8(ascii: "a"), count: 255))))
        let userTooLong = encoded(limit + [0x61, 0x61, 0x61]) + Array("OmFh".utf8)
        #expect(HTTPProxyAuthorization(fieldValue: userTooLong) == .tooLong)
        let passwordTooLong = atLimit.dropLast(4) + Array("YWE=".utf8)
        #expect(HTTPProxyAuthorization(fieldValue: Array(passwordTooLong)) == .tooLong)
    }

    @Test func fieldsOfAHead() {
        func fields(_ values: [String]) -> [HTTPField] { values.map { HTTPField(name: "proxy-Authorization", value: $0) } + [HTTPField(name: "Host", value: "h")] }
        #expect(HTTPProxyAuthorization(fields: fields(["Basic dXNlcjpwdw=="])).credentials == SOCKSCredentials(username: "user", password: "pw"))
        #expect(HTTPProxyAuthorization(fields: fields([])) == .absent)
        #expect(HTTPProxyAuthorization(fields: fields(["Basic dXNlcjpwdw==", "Basic dXNlcjpwdw=="])) == .absent)
    }
}
