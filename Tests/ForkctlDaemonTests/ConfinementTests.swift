import ForkctlSys
import ForkctlWire
import Testing

@testable import ForkctlDaemon

@Suite("Supervisor: a confined client's programs")
struct SupervisorConfinementTests {
  static let narrow = ProcessAttributes.CapabilityMasks(bounding: 0b1010, permitted: 0b10, effective: 0b10)

  @Test("spawn and run carry the client's no_new_privs and capability bounds in the attributes")
  func confinementGoesIntoTheAttributes() throws {
    var s = makeSupervisor()
    s.handle(.clientConnected(1, uid: 0, confinement: Confinement(noNewPrivileges: true, capabilities: Self.narrow)))
    let spec = RunSpec(program: b("x"))
    _ = s.request(.spawn(SpawnRequest(targets: [], spec: spec, attributes: ProcessAttributes(umask: 0o077))))
    guard case .spawn(_, _, _, let sent?)? = s.effects.commands(to: s.defaultTemplate!).last else {
      throw HarnessError("no spawn with attributes")
    }
    #expect(sent.umask == 0o077)
    #expect(sent.flags.contains(.noNewPrivileges) && sent.flags.contains(.dropCapabilities))
    #expect(sent.capabilities == Self.narrow)
    s.handle(.spawned(pid: 299, errno: 0), from: s.defaultTemplate!)
    let w = try s.newWorker(pid: 300, client: 1)
    s.request(.run(ref: ref(w), spec: spec, attributes: ProcessAttributes()), client: 1)
    guard case .run(_, _, let ran?)? = s.effects.commands(to: w).last else { throw HarnessError("no run") }
    #expect(ran.flags.contains(.noNewPrivileges) && ran.capabilities == Self.narrow)
  }

  @Test("a confined client that sends no attributes is refused, and an unconfined one is served as before")
  func noAttributesNoService() throws {
    var s = makeSupervisor()
    s.handle(.clientConnected(1, uid: 0, confinement: Confinement(noNewPrivileges: true)))
    let fds = s.fds(1)
    let spawn = Request.spawn(SpawnRequest(targets: [0], spec: RunSpec(program: b("x"))))
    #expect(s.request(spawn, fds: fds, client: 1).map(\.failureCode) == [.permissionDenied])
    #expect(s.effects.closed == fds)
    s.clientConnected(2, uid: 0)
    #expect(s.request(spawn, fds: s.fds(1), client: 2).isEmpty)
  }
}
