// swift-tools-version: 6.2
import PackageDescription

/// Fetches a page through a SOCKS5 proxy with the client library.
/// Depends on the socksd package by path; a program of your own would name its URL instead.
let package = Package(
    name: "FetchThroughProxy",
    dependencies: [.package(name: "socksd", path: "../..")],
    targets: [
        .executableTarget(name: "FetchThroughProxy", dependencies: [.product(name: "SOCKSClient", package: "socksd")])
    ],
    swiftLanguageModes: [.v6]
)
