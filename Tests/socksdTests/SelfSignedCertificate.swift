import Foundation
import Testing

/// A throwaway certificate for `127.0.0.1` (subject alternative name IP:127.0.0.1, P-256 key, valid one day)
/// made by `openssl req -x509` in `directory`: the TLS origin's certificate, and the CA file clients trust.
struct SelfSignedCertificate: Sendable {
    let certificatePath: String
    let keyPath: String

    static func make(in directory: TemporaryDirectory) async throws -> SelfSignedCertificate {
        let certificate = SelfSignedCertificate(certificatePath: directory.file("origin.crt"), keyPath: directory.file("origin.key"))
        let made = try await runCommand("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", certificate.keyPath, "-out", certificate.certificatePath,
        ], includeErrors: true)
        try #require(made.status == 0, "openssl req -x509 failed: \(made.output)")
        return certificate
    }
}
