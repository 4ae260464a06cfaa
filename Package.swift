// swift-tools-version:6.0
// forkctl is Linux-only: it relies on SCM_RIGHTS, signalfd, epoll, PR_SET_CHILD_SUBREAPER,
// clone(CLONE_PARENT) and /proc. That is stated here once instead of in #if guards everywhere.
import PackageDescription

let package = Package(
  name: "forkctl",
  products: [
    .executable(name: "forkctl", targets: ["forkctl"]),
    .library(name: "ForkctlClient", targets: ["ForkctlClient"]),
    .library(name: "ForkctlWire", targets: ["ForkctlWire"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1")
  ],
  targets: [
    // Pure codec: Swift standard library only, descriptors as counts.
    .target(name: "ForkctlWire"),
    // C for what Swift cannot import (CMSG macros, variadic calls, raw clone) and the
    // async-signal-safe exec path.
    .target(name: "CForkctlShims"),
    .systemLibrary(
      name: "CLibBSD", pkgConfig: "libbsd", providers: [.apt(["libbsd-dev"])]),
    // The only Swift module that calls libc. ForkctlWire only for FrameChannel, which joins
    // the codec to a socket; the system calls themselves know no protocol limit.
    .target(
      name: "ForkctlSys",
      dependencies: [
        "CForkctlShims", "CLibBSD", "ForkctlWire",
        .product(name: "SystemPackage", package: "swift-system"),
      ]),
    .target(name: "ForkctlTemplate", dependencies: ["ForkctlWire", "ForkctlSys"]),
    .target(name: "ForkctlDaemon", dependencies: ["ForkctlWire", "ForkctlSys"]),
    .target(name: "ForkctlClient", dependencies: ["ForkctlWire", "ForkctlSys"]),
    .executableTarget(
      name: "forkctl",
      dependencies: ["ForkctlClient", "ForkctlDaemon", "ForkctlTemplate", "ForkctlSys"]),
    // The template role alone, the image the daemon runs templates from. Released dynamically
    // linked (Scripts/forkctl), where forkctl is static: only a process started by the dynamic
    // loader can dlopen a library into its one C library (README, "Design decisions").
    .executableTarget(name: "forkctl-template", dependencies: ["ForkctlTemplate", "ForkctlSys"]),
    // Scripts/bench's measuring process. It forks (fork+exec is one of the things measured),
    // so it links no Foundation, Dispatch or Swift concurrency: threads are POSIX threads.
    // CForkctlBench holds the fork+exec it measures against, which the product never calls.
    .target(name: "CForkctlBench"),
    .executableTarget(
      name: "forkctl-bench",
      dependencies: ["ForkctlClient", "ForkctlSys", "ForkctlWire", "CForkctlBench"]),
    .testTarget(name: "ForkctlWireTests", dependencies: ["ForkctlWire"]),
    // System-call tests: real descriptors, signals and threads in the test process.
    .testTarget(name: "ForkctlSysTests", dependencies: ["ForkctlSys", "CForkctlShims"]),
    .testTarget(name: "ForkctlBenchTests", dependencies: ["forkctl-bench"]),
    // The command line's parser and its option tables, without a process or a daemon.
    .testTarget(name: "ForkctlCLITests", dependencies: ["forkctl"]),
    .testTarget(name: "ForkctlDaemonTests", dependencies: ["ForkctlDaemon", "ForkctlWire", "ForkctlSys"]),
    .testTarget(
      name: "ForkctlIntegrationTests",
      dependencies: ["ForkctlSys", "ForkctlWire", "ForkctlClient"]),
  ]
)
