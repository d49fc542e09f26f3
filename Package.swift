// swift-tools-version: 6.2
import PackageDescription

/// socksd: a SOCKS5 proxy for Linux. No package dependencies: the toolchain only.
///
/// Layers (arrows point one way):
///   socksd → SOCKSServer → SOCKSClient → SOCKSProtocol
///                          SOCKSClient → AsyncSockets → CEpoll
///              SOCKSServer → CPAM, CGSSAPI
let package = Package(
    name: "socksd",
    products: [
        .executable(name: "socksd", targets: ["socksd"]),
        .library(name: "SOCKSServer", targets: ["SOCKSServer"]),
        .library(name: "SOCKSClient", targets: ["SOCKSClient"]),
        .library(name: "SOCKSProtocol", targets: ["SOCKSProtocol"]),
        .library(name: "AsyncSockets", targets: ["AsyncSockets"]),
    ],
    targets: [
        // C shim: epoll, eventfd and accept4, which Glibc's Swift overlay does not export.
        .target(name: "CEpoll"),
        // C shim: one PAM login and its conversation function, against a libpam loaded at run time.
        .target(name: "CPAM"),
        // C shim: the GSS-API acceptor's calls (RFC 1961 logins), against a libgssapi_krb5 loaded at run time.
        .target(name: "CGSSAPI"),
        // Nonblocking sockets driven by epoll event loops (one thread per core, each a task executor),
        // exposed as async functions and AsyncSequences.
        .target(name: "AsyncSockets", dependencies: ["CEpoll"]),
        // Sans-I/O SOCKS5 / RFC 1929 codecs and the server handshake state machine.
        .target(name: "SOCKSProtocol"),
        // An async SOCKS5 client: CONNECT, BIND, UDP ASSOCIATE and UDP over TCP (what upstream chaining uses).
        .target(name: "SOCKSClient", dependencies: ["AsyncSockets", "SOCKSProtocol"]),
        // The embeddable server: listener actor, sessions, relays, upstreams, configuration.
        .target(name: "SOCKSServer", dependencies: ["AsyncSockets", "SOCKSProtocol", "SOCKSClient", "CPAM", "CGSSAPI"]),
        // The daemon: command line, users file, signals, logging (CEpoll for malloc_trim).
        .executableTarget(name: "socksd", dependencies: ["SOCKSServer", "CEpoll"]),

        // Shared by the test targets: loopback peers, a raw SOCKS5 client, SHA-256. Optimised even in debug
        // builds, so that hashing 64 MiB in a test takes a fraction of a second.
        // For TestSupport's child processes: close every inherited descriptor (a GNU extension of posix_spawn).
        .target(name: "CSpawn", path: "Tests/CSpawn"),
        .target(
            name: "TestSupport", dependencies: ["AsyncSockets", "SOCKSProtocol", "SOCKSClient", "CSpawn"], path: "Tests/TestSupport",
            swiftSettings: [.unsafeFlags(["-O"])]),
        .testTarget(name: "AsyncSocketsTests", dependencies: ["AsyncSockets", "TestSupport"]),
        .testTarget(name: "SOCKSProtocolTests", dependencies: ["SOCKSProtocol"]),
        .testTarget(name: "SOCKSClientTests", dependencies: ["SOCKSClient", "SOCKSServer", "AsyncSockets", "SOCKSProtocol", "TestSupport"]),
        .testTarget(name: "SOCKSServerTests", dependencies: ["SOCKSServer", "SOCKSClient", "AsyncSockets", "SOCKSProtocol", "TestSupport"]),
        // A process of its own that runs a server and a client and counts its threads (LoopLifecycleTests).
        .executableTarget(name: "loop-lifecycle-probe", dependencies: ["SOCKSServer", "SOCKSClient"], path: "Tests/LoopLifecycleProbe"),
        .testTarget(
            name: "socksdTests", dependencies: ["socksd", "loop-lifecycle-probe", "AsyncSockets", "SOCKSProtocol", "SOCKSClient", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
