// The /proc parsers of Memory.swift on fixed text, and one read of this process.
import ForkctlSys
import ForkctlWire
import Glibc
import Testing

@Suite struct MemoryTests {
  static let rollup = """
    55d0c8a3e000-7ffd5b9f1000 ---p 00000000 00:00 0                          [rollup]
    Rss:              206048 kB
    Pss:               50931 kB
    Pss_Dirty:         50734 kB
    Pss_Anon:          50734 kB
    Pss_File:            197 kB
    Pss_Shmem:             0 kB
    Shared_Clean:       1028 kB
    Shared_Dirty:     184408 kB
    Private_Clean:        72 kB
    Private_Dirty:     20540 kB
    Referenced:       206048 kB
    Anonymous:        204936 kB
    KSM:                   0 kB
    LazyFree:              0 kB
    AnonHugePages:         0 kB
    Swap:                 12 kB
    SwapPss:              12 kB
    Locked:                0 kB

    """

  @Test("smaps_rollup's kB lines become bytes; the header and unknown fields are skipped")
  func parsesRollup() throws {
    let m = try #require(MemoryFigures(smapsRollup: Array(Self.rollup.utf8)))
    #expect(
      m
        == MemoryFigures(
          resident: 206048 << 10, proportional: 50931 << 10, sharedClean: 1028 << 10, sharedDirty: 184408 << 10,
          privateClean: 72 << 10, privateDirty: 20540 << 10, anonymous: 204936 << 10, swap: 12 << 10))
    #expect(m.shared == (1028 + 184408) << 10 && m.unshared == (72 + 20540) << 10)
  }

  @Test("empty smaps_rollup (a process without memory) gives no figures")
  func emptyRollup() {
    #expect(MemoryFigures(smapsRollup: []) == nil)
    #expect(MemoryFigures(smapsRollup: Array("Pss: 4 kB\n".utf8)) == nil)
  }

  @Test(
    "maps gives each file path once, spaces and a deleted file's mark kept, pseudo-mappings and anonymous memory not")
  func parsesMaps() {
    let maps = """
      5581a000-5581b000 r--p 00000000 08:01 1048 /usr/bin/forkctl
      5581b000-5581c000 r-xp 00001000 08:01 1048 /usr/bin/forkctl
      5582a000-5584b000 rw-p 00000000 00:00 0                                  [heap]
      7f00a000-7f00b000 rw-p 00000000 00:00 0
      7f00b000-7f00c000 r--p 00000000 08:01 2211                       /lib/x86_64-linux-gnu/libc.so.6
      7f00c000-7f00d000 r--s 00000000 00:05 77                         /tmp/a file (deleted)
      7f00d000-7f00e000 r--p 00000000 08:01 99                         /data/odd\\012name
      7ffd0000-7ffd1000 r-xp 00000000 00:00 0                          [vdso]
      """
    #expect(
      MappedFiles.paths(inMaps: Array(maps.utf8))
        == Set(
          [
            "/usr/bin/forkctl", "/lib/x86_64-linux-gnu/libc.so.6", "/tmp/a file (deleted)", "/data/odd\\012name",
          ].map { Array($0.utf8) }))
  }

  @Test("this process's own memory and mappings read from /proc")
  func readsSelf() throws {
    let m = try Sys.memoryFigures(of: getpid())
    #expect(m.resident > 0 && m.proportional <= m.resident && m.unshared <= m.resident)
    let files = try Sys.mappedFiles(of: getpid())
    #expect(files.paths.contains(files.executable))
    #expect(files.paths.contains { String(decoding: $0, as: UTF8.self).contains("libc.so") })
    #expect(throws: Errno.noSuchFileOrDirectory) { try Sys.memoryFigures(of: Int32.max) }
  }
}
