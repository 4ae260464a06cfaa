// What the daemon asks of the executables it may start templates from, and what a template
// asks of its own image before it loads code.
import ForkctlSys
import Glibc
import Testing

@Suite struct ImageTests {
  @Test("only a regular file with execute permission, after symbolic links, is an executable file")
  func executableFile() throws {
    let file = temporaryPath("image")
    let link = temporaryPath("image.link")
    defer {
      try? Sys.removeFile(file)
      try? Sys.removeFile(link)
    }
    try Sys.openOrCreate(file).closeQuietly()
    #expect(!Sys.isExecutableFile(file), "a file without execute permission")
    try Sys.setMode(file, 0o755)
    #expect(Sys.isExecutableFile(file))
    #expect(symlink(file, link) == 0)
    #expect(Sys.isExecutableFile(link), "a symbolic link to an executable file")
    #expect(Sys.isExecutable("/tmp") && !Sys.isExecutableFile("/tmp"), "a searchable directory")
    #expect(!Sys.isExecutableFile(file + ".missing"))
  }

  @Test("the test process, linked dynamically, can load code")
  func dynamicImageCanLoadCode() {
    #expect(Sys.canLoadCode)
  }
}
