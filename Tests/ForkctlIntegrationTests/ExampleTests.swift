// Examples/: each library is built as its README says and run through a real daemon, so
// that the examples cannot rot (issue 12).
import ForkctlSys
import Glibc
import Testing

/// The repository's Examples directory.
private let examples: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/ExampleTests.swift
  for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Examples"
}()

/// The first of `candidates` that can be executed.
private func program(_ candidates: [String]) -> String? { candidates.first { access($0, X_OK) == 0 } }

private let rustc = program(["/root/.cargo/bin/rustc", "/usr/local/bin/rustc", "/usr/bin/rustc"])
private let swiftc = program(["/opt/swift/usr/bin/swiftc", "/usr/bin/swiftc"])
/// rustup's rustc finds its toolchain from HOME, which a World replaces with its own.
private let realHome = Sys.environmentValue("HOME") ?? "/root"

@Suite struct ExampleTests {
  /// Builds with `build` (a shell command run in a fresh directory holding model.txt and
  /// input.txt), loads ./libscorer.so into a template by its relative path, and scores.
  func check(_ build: String, _ what: String) {
    let w = World()
    let r = w.script(
      """
      cd '\(w.dir)' || exit 90
      printf 'apple pear plum\\n' > model.txt && printf 'apple apple kiwi pear\\n' > input.txt
      { \(build); } >build.log 2>&1 || { cat build.log >&2; exit 91; }
      $F exec --name scorer >/dev/null || exit 92
      $F load scorer ./libscorer.so -- model.txt || exit 93
      $F spawn --from scorer --call score -- input.txt || exit 94
      $F spawn --from scorer --call score < input.txt
      """, tag: what)
    #expect(r.code == 0, "\(what): \(r.stderr)")
    #expect(r.stdout == "input.txt 3\n3\n", "\(what): \(r.stderr)")
  }

  @Test("the C example builds and scores, and its run.sh runs the manual's session")
  func c() {
    check("cc -shared -fPIC -O2 -I'\(examples)/../include' -o libscorer.so '\(examples)/c/scorer.c'", "c")
    let w = World()
    let r = w.script("FORKCTL=$F exec '\(examples)/c/run.sh'", tag: "run.sh")
    #expect(r.code == 0, "run.sh: \(r.stderr)")
    #expect(r.stdout == "input.txt 3\n3\n", "run.sh: \(r.stderr)")
  }

  @Test("the Rust example builds with rustc alone and scores", .enabled(if: rustc != nil, "rustc is not installed"))
  func rust() {
    check("HOME='\(realHome)' '\(rustc!)' --crate-type cdylib -O -o libscorer.so '\(examples)/rust/scorer.rs'", "rust")
  }

  @Test("the Swift example builds with swiftc and scores", .enabled(if: swiftc != nil, "swiftc is not installed"))
  func swift() {
    let flags = "-emit-library -parse-as-library -O -module-name Scorer -o libscorer.so"
    check("HOME='\(realHome)' '\(swiftc!)' \(flags) '\(examples)/swift/Scorer.swift'", "swift")
  }
}
