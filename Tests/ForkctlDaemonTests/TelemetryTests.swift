// memory and audit in the Supervisor, against a fake /proc (RecordingEffects): whose objects
// a client may read, what each state reads as, and when a parent's mappings are read.
import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: memory and audit")
struct SupervisorTelemetryTests {
  static let figures = MemoryFigures(resident: 8192, proportional: 4096, sharedDirty: 4096, privateDirty: 4096)
  static let image = b("/usr/bin/forkctl")

  static func files(_ paths: [String]) -> MappedFiles {
    MappedFiles(executable: image, paths: Set([image] + paths.map(b)))
  }

  /// A supervisor with clients 1 (uid 1000) and 2 (uid 2000).
  static func supervisor() -> TestSupervisor {
    var s = makeSupervisor()
    s.clientConnected(1, uid: 1000)
    s.clientConnected(2, uid: 2000)
    return s
  }

  @Test("memory without refs measures the caller's own objects, by id; a starting or gone one has no process")
  func memoryOfOwnObjects() throws {
    var s = Self.supervisor()
    let (t, tpid) = try s.execTemplate()
    let w = try s.forkWorker(from: t, pid: 3001)
    let exited = try s.forkWorker(from: t, pid: 3002)
    s.request(.fork(ref: ref(t), name: []))
    _ = try s.execTemplate(client: 2)
    s.effects.memory[tpid] = Self.figures
    s.effects.unreadable[3001] = .permissionDenied
    let reply = s.request(.memory(refs: []), client: 1)
    #expect(
      reply == [
        .memory([
          MemoryEntry(id: t, parent: 0, pid: tpid, reading: .measured(Self.figures)),
          MemoryEntry(id: w, parent: t, pid: 3001, reading: .unreadable(errno: Errno.permissionDenied.rawValue)),
          // Not in the fake /proc: exited and not reaped yet (ESRCH).
          MemoryEntry(id: exited, parent: t, pid: 3002, reading: .noProcess),
          MemoryEntry(id: exited + 1, parent: t, pid: 0, reading: .noProcess),
        ])
      ])
  }

  @Test("memory and audit of another user's object are refused, the default template's is not")
  func otherUsersRefused() throws {
    var s = Self.supervisor()
    let (t, _) = try s.execTemplate(client: 2)
    let w = try s.forkWorker(from: t, pid: 3001, client: 2)
    #expect(s.request(.memory(refs: [ref(w)]), client: 1).map(\.failureCode) == [.permissionDenied])
    #expect(
      s.request(.audit(ref: ref(w)), client: 1).first?.failureMessage
        == "cannot audit process \(w): it belongs to uid 2000")
    #expect(s.request(.memory(refs: [b("nothing")]), client: 1).map(\.failureCode) == [.unknownProcess])
    _ = try s.newWorker(pid: 3002)
    let shared = s.request(.memory(refs: [b("default")]), client: 1)
    guard case .memory(let entries)? = shared.first else {
      Issue.record("\(shared)")
      return
    }
    #expect(entries.map(\.id) == [s.defaultTemplate!])
  }

  @Test("audit lists what a fork maps beyond its parent's files at the fork, read once per parent")
  func auditAgainstParent() throws {
    var s = Self.supervisor()
    let (t, tpid) = try s.execTemplate()
    s.effects.maps[tpid] = Self.files(["/lib/libc.so.6"])
    let w1 = try s.forkWorker(from: t, pid: 3001)
    let w2 = try s.forkWorker(from: t, pid: 3002)
    #expect(s.effects.mapsRead == [tpid])
    s.effects.maps[3001] = Self.files(["/lib/libc.so.6", "/lib/libz.so.1", "/data/model.bin"])
    s.effects.maps[3002] = Self.files(["/lib/libc.so.6"])
    #expect(s.request(.audit(ref: ref(w1))) == [.mappings([b("/data/model.bin"), b("/lib/libz.so.1")])])
    #expect(s.request(.audit(ref: ref(w2))) == [.mappings([])])
  }

  @Test("after a load the parent's files are read again at its next fork, and only then")
  func mappingsChangedByLoad() throws {
    var s = Self.supervisor()
    let (t, tpid) = try s.execTemplate()
    s.effects.maps[tpid] = Self.files([])
    let before = try s.forkWorker(from: t, pid: 3001)
    s.request(.load(ref: ref(t), LoadSpec(path: b("/lib/libscore.so"))))
    s.effects.maps[tpid] = Self.files(["/lib/libscore.so"])
    s.handle(.loaded(ThreadCensus(names: [b("forkctl/object")])), from: t)
    #expect(s.effects.mapsRead == [tpid])
    let after = try s.forkWorker(from: t, pid: 3002)
    #expect(s.effects.mapsRead == [tpid, tpid])
    s.effects.maps[3001] = Self.files([])
    s.effects.maps[3002] = Self.files(["/lib/libscore.so"])
    #expect(s.request(.audit(ref: ref(after))) == [.mappings([])])
    #expect(s.request(.audit(ref: ref(before))) == [.mappings([])])
  }

  @Test("audit refuses a template, a worker that exec'd, an exited one, and one whose parent was unreadable")
  func auditRefusals() throws {
    var s = Self.supervisor()
    let (t, tpid) = try s.execTemplate()
    let blind = try s.forkWorker(from: t, pid: 3001)
    s.effects.maps[tpid] = Self.files([])
    let execd = try s.forkWorker(from: t, pid: 3002)
    s.effects.maps[3002] = MappedFiles(executable: b("/bin/sleep"), paths: [b("/bin/sleep")])
    let exited = try s.forkWorker(from: t, pid: 3003)
    s.childExited(pid: 3003, status: .exited(0))
    let refusals = [t, execd, exited, blind].map { s.request(.audit(ref: ref($0))).first?.failureMessage ?? "" }
    #expect(
      refusals == [
        "cannot audit process \(t): it is a template, forked from no other process object",
        "cannot audit process \(execd): it ran a program, which maps nothing of its template's; audit compares a "
          + "process that did not exec (a function worker, or one that has not run)",
        "cannot audit process \(exited): it has exited",
        "cannot audit process \(blind): its parent's mappings could not be read when it forked",
      ])
  }
}
