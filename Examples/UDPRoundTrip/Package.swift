// swift-tools-version: 6.2
import PackageDescription

/// Sends a datagram through a SOCKS5 proxy's UDP relay and prints the answer.
/// Depends on the socksd package by path; a program of your own would name its URL instead.
let package = Package(
    name: "UDPRoundTrip",
    dependencies: [.package(name: "socksd", path: "../..")],
    targets: [
        .executableTarget(name: "UDPRoundTrip", dependencies: [.product(name: "SOCKSClient", package: "socksd")])
    ],
    swiftLanguageModes: [.v6]
)
