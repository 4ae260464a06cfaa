// The libraries that the function-worker tests load, compiled from C during the test run.
import Glibc
import Testing

/// Tests/Fixtures/libraries: C sources of the libraries the tests load.
private let librarySources: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/TestLibraries.swift
  for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/Fixtures/libraries"
}()

/// NAME.c built with `cc -shared -fPIC` into a directory of its own; the path of the .so,
/// or nil with the compiler's complaint recorded. Called from a global's initializer, so
/// that each library is built once per test run.
func buildLibrary(_ name: String) -> String? {
  let dir = makeTemporaryDirectory()
  let out = "\(dir)/lib\(name).so"
  let log = "\(dir)/cc.log"
  let include = librarySources + "/../../../include"
  let source = "\(librarySources)/\(name).c"
  let rc = system("cc -shared -fPIC -O1 -Wall -Werror -I'\(include)' -o '\(out)' '\(source)' -lpthread >'\(log)' 2>&1")
  if rc != 0 {
    Issue.record("cc \(name).c failed: \(readFile(log))")
    return nil
  }
  return out
}
