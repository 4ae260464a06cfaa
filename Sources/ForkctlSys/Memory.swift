// What /proc says of a process's memory and mappings (proc(5)), for `forkctl mem` and
// `forkctl audit`: read on demand, never on a timer, as smaps_rollup walks the page tables
// under the process's mmap lock and costs about 1 ms per 200 MB mapped
// (next-capabilities.md 4.2). The parsers are pure, so that fixed text tests them.
import ForkctlWire
import Glibc

/// The files a process maps, as /proc/PID/maps names them, and its executable.
public struct MappedFiles: Equatable, Sendable {
  /// /proc/PID/exe: a process that still maps it has not exec'd another program since.
  public var executable: [UInt8]
  /// The path of every file mapping, each once: libraries, the executable, mapped data.
  public var paths: Set<[UInt8]>

  public init(executable: [UInt8], paths: Set<[UInt8]>) {
    self.executable = executable
    self.paths = paths
  }

  /// The file paths of /proc/PID/maps text. A line is "ADDRESS PERMS OFFSET DEV INODE", then
  /// spaces and the path, which runs to the end of the line (it may hold spaces; the kernel
  /// writes a newline in it as "\012"). Lines without one (anonymous memory) or naming a
  /// pseudo-mapping ("[heap]", "[stack]", "[vdso]") are skipped; so is a deleted file's
  /// " (deleted)" kept, as it tells the file apart from its successor.
  public static func paths(inMaps text: [UInt8]) -> Set<[UInt8]> {
    var out = Set<[UInt8]>()
    var start = text.startIndex
    while start < text.endIndex {
      let end = text[start...].firstIndex(of: UInt8(ascii: "\n")) ?? text.endIndex
      if let path = path(inMapsLine: text[start..<end]) { out.insert(path) }
      start = end + 1
    }
    return out
  }

  static func path(inMapsLine line: ArraySlice<UInt8>) -> [UInt8]? {
    let space = UInt8(ascii: " ")
    var i = line.startIndex
    // Five fields, each followed by spaces.
    for _ in 0..<5 {
      while i < line.endIndex && line[i] != space { i += 1 }
      while i < line.endIndex && line[i] == space { i += 1 }
    }
    guard i < line.endIndex, line[i] == UInt8(ascii: "/") else { return nil }
    return Array(line[i...])
  }
}

extension MemoryFigures {
  /// The fields read, by their names in smaps_rollup, in the order of `init`'s arguments.
  static let rollupNames = [
    "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous", "Swap",
  ].map { Array($0.utf8) }

  /// The figures of /proc/PID/smaps_rollup text: one "Name:   N kB" line per field after a
  /// header line; nil when it has no Rss line (a process without memory, such as a zombie's,
  /// reads empty). Bytes are compared as they are, without a String per line: the daemon
  /// parses one per process object of a `mem`.
  public init?(smapsRollup text: [UInt8]) {
    var values = [UInt64?](repeating: nil, count: Self.rollupNames.count)
    var start = text.startIndex
    while start < text.endIndex {
      let end = text[start...].firstIndex(of: UInt8(ascii: "\n")) ?? text.endIndex
      let line = text[start..<end]
      start = end + 1
      // The header line ("55d0...-7ffc... ---p 00000000 00:00 0 [rollup]") has no colon
      // right after a known name.
      guard let colon = line.firstIndex(of: UInt8(ascii: ":")),
        let field = Self.rollupNames.firstIndex(where: { $0.elementsEqual(line[..<colon]) })
      else { continue }
      var kilobytes: UInt64 = 0
      var digits = 0
      for byte in line[(colon + 1)...] {
        if byte == UInt8(ascii: " ") && digits == 0 { continue }
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { break }
        kilobytes = kilobytes &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
        digits += 1
      }
      if digits > 0 && line.suffix(3).elementsEqual(" kB".utf8) { values[field] = kilobytes &* 1024 }
    }
    guard let resident = values[0] else { return nil }
    self.init(
      resident: resident, proportional: values[1] ?? 0, sharedClean: values[2] ?? 0, sharedDirty: values[3] ?? 0,
      privateClean: values[4] ?? 0, privateDirty: values[5] ?? 0, anonymous: values[6] ?? 0, swap: values[7] ?? 0)
  }
}

extension Sys {
  /// The memory of process `pid`, from /proc/PID/smaps_rollup (Linux 4.14). ESRCH for a
  /// process that has exited (a zombie has no memory to read), EACCES for one the caller
  /// may not read (proc(5), "ptrace access mode"). The corresponding C function is `read`.
  public static func memoryFigures(of pid: Int32) throws(Errno) -> MemoryFigures {
    let text = try readProcessFile("/proc/\(pid)/smaps_rollup")
    guard let figures = MemoryFigures(smapsRollup: text) else { throw Errno.noSuchProcess }
    return figures
  }

  /// The files process `pid` maps, from /proc/PID/maps, and its executable (/proc/PID/exe).
  /// The corresponding C functions are `read` and `readlink`.
  public static func mappedFiles(of pid: Int32) throws(Errno) -> MappedFiles {
    let executable = try symbolicLink("/proc/\(pid)/exe")
    let paths = MappedFiles.paths(inMaps: try readProcessFile("/proc/\(pid)/maps", limit: 16 << 20))
    return MappedFiles(executable: Array(executable.utf8), paths: paths)
  }

  /// A whole file of /proc, read through one page-sized buffer (a daemon reads one per
  /// process object for `forkctl mem`, so no buffer is allocated per read), up to `limit`
  /// bytes. The corresponding C function is `read`.
  static func readProcessFile(_ path: String, limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
    let fd = try open(path, .readOnly)
    defer { fd.closeQuietly() }
    var out = [UInt8]()
    let result: Errno? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
      while out.count < limit {
        let n: Int
        do throws(Errno) {
          n = try retrying { Glibc.read(fd.rawValue, buffer.baseAddress!, buffer.count) }
        } catch {
          return error
        }
        if n == 0 { return nil }
        out.append(contentsOf: buffer[0..<n])
      }
      return nil
    }
    if let result { throw result }
    return out
  }
}

extension Sys {
  /// The name of the memfd in which a language host's worker lists the modules it imported after
  /// its fork, one a line (forkctl-protocol(7), audit).
  public static let importsFileName = "forkctl-imports"

  /// The lines of process `pid`'s `forkctl-imports` memfd, found among /proc/PID/fd by its link
  /// (`/memfd:forkctl-imports (deleted)`, proc(5)); none when it has no such file. The
  /// corresponding C functions are `opendir`, `readlink` and `read`.
  public static func importedModules(of pid: Int32) throws(Errno) -> [[UInt8]] {
    let directory = "/proc/\(pid)/fd"
    guard let dir = opendir(directory) else { throw currentErrno() }
    defer { closedir(dir) }
    let wanted = "/memfd:\(importsFileName) (deleted)"
    while let entry = readdir(dir) {
      let fd = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      guard fd.first?.isNumber == true, (try? symbolicLink("\(directory)/\(fd)")) == wanted else { continue }
      // Opened afresh through /proc, from its start, whatever the worker's own offset.
      let bytes = try readProcessFile("\(directory)/\(fd)", limit: 4 << 20)
      return bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) }
    }
    return []
  }
}
