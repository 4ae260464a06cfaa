// include/forkctl.h, the C interface of libraries loaded into templates: it compiles as
// strict C99 and as C++, its declaration rejects an init of another shape, and its helper
// reads FORKCTL_CONTROL_FD as a worker kept with --keep-control gets it.
import Glibc
import Testing

/// The repository's include directory.
private let includeDirectory: String = {
  var path = #filePath  // .../Tests/ForkctlIntegrationTests/HeaderTests.swift
  for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
  return path + "/include"
}()

/// A program that prints the ABI version and forkctl_control_fd().
private let probe = """
  #include <forkctl.h>
  #include <stdio.h>
  int main(void) {
    printf("%d %d\\n", FORKCTL_ABI_VERSION, forkctl_control_fd());
    return 0;
  }
  """

@Suite struct HeaderTests {
  /// Compiles `source` with `compiler` and `flags`; the compiler's exit status and output.
  func compile(_ compiler: String, _ flags: String, _ source: String, _ dir: String) -> (Int32, String) {
    writeFile(dir + "/probe.c", source)
    let rc = system(
      "\(compiler) \(flags) -Wall -Wextra -pedantic -Werror -I'\(includeDirectory)' -o '\(dir)/probe' "
        + "'\(dir)/probe.c' >'\(dir)/cc.log' 2>&1")
    return (rc, readFile(dir + "/cc.log"))
  }

  /// Runs the compiled probe with FORKCTL_CONTROL_FD set to `value` (unset when nil).
  func probeOutput(_ dir: String, controlFD value: String?) -> String {
    let assignment = value.map { "FORKCTL_CONTROL_FD='\($0)'" } ?? ""
    _ = system("env -u FORKCTL_CONTROL_FD \(assignment) '\(dir)/probe' >'\(dir)/out' 2>&1")
    return readFile(dir + "/out")
  }

  @Test("forkctl.h compiles as strict C99 and as C++, and forkctl_control_fd reads FORKCTL_CONTROL_FD")
  func compilesAndReads() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    for (compiler, flags) in [("cc", "-std=c99"), ("c++", "-x c++")] {
      let (rc, log) = compile(compiler, flags, probe, dir)
      #expect(rc == 0, "\(compiler) \(flags): \(log)")
      #expect(probeOutput(dir, controlFD: nil) == "1 -1\n", "\(compiler)")
      #expect(probeOutput(dir, controlFD: "5") == "1 5\n", "\(compiler)")
      for bad in ["", "x", "5x", "-3"] {
        #expect(probeOutput(dir, controlFD: bad) == "1 -1\n", "\(compiler), FORKCTL_CONTROL_FD='\(bad)'")
      }
    }
  }

  @Test("forkctl.h rejects a forkctl_init that is not int (int, char **)")
  func rejectsAnotherInit() {
    let dir = makeTemporaryDirectory()
    defer { _ = system("rm -rf '\(dir)'") }
    let wrong = "#include <forkctl.h>\nint forkctl_init(void) { return 0; }\nint main(void) { return 0; }\n"
    let (rc, log) = compile("cc", "-std=c99", wrong, dir)
    #expect(rc != 0 && log.contains("forkctl_init"), "\(log)")
    let right = "#include <forkctl.h>\nint forkctl_init(int c, char **v) { return c - 1 + (v == 0); }\n"
    #expect(compile("cc", "-std=c99", right + "int main(void) { return 0; }\n", dir).0 == 0)
  }
}
