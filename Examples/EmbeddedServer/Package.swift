// swift-tools-version: 6.2
import PackageDescription

/// A SOCKS5 proxy inside a program of its own: one user, one rule.
/// Depends on the socksd package by path; a program of your own would name its URL instead.
let package = Package(
    name: "EmbeddedServer",
    dependencies: [.package(name: "socksd", path: "../..")],
    targets: [
        .executableTarget(name: "EmbeddedServer", dependencies: [.product(name: "SOCKSServer", package: "socksd")])
    ],
    swiftLanguageModes: [.v6]
)
