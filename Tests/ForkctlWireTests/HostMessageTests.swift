// Issue 14's messages byte for byte, as forkctl-protocol(7) documents them: exec's host block,
// eval (request and command), the hostChild and childEnded reports, and audit's modules.
import Testing

@testable import ForkctlWire

@Suite struct HostMessageTests {
  @Test("exec 0x03 with a host block: name, u8 language, interpreter, environment; without it a native template")
  func execBytes() throws {
    let host = Request.exec(
      name: b("py"), host: HostSpec(language: .python, interpreter: b("/usr/bin/python3"), environment: [b("A=1")]))
    #expect(
      host.frame().encoded() == [
        0x01, 0x03, 0, 0, 38, 0, 0, 0,
        2, 0, 0, 0, 0x70, 0x79,
        1,
        16, 0, 0, 0,
      ] + b("/usr/bin/python3") + [1, 0, 0, 0, 3, 0, 0, 0, 0x41, 0x3d, 0x31])
    #expect(try Request(throughDecoder(host.frame())) == host)
    let perl = Request.exec(name: [], host: HostSpec(language: .perl, interpreter: b("/usr/bin/perl")))
    #expect(try Request(throughDecoder(perl.frame())) == perl)
    // A native exec is the name alone, as before hosts.
    #expect(Request.exec(name: b("t")).frame().payload == [1, 0, 0, 0, 0x74])
    #expect(try Request(Request.exec(name: b("t")).frame()) == .exec(name: b("t"), host: nil))
  }

  @Test("exec refuses language 0 and 3, a relative interpreter, NUL bytes, and a truncated block")
  func badExec() {
    let cases: [(UInt8, [UInt8], [[UInt8]])] = [
      (0, b("/bin/python3"), []), (3, b("/bin/python3"), []), (1, b("python3"), []), (1, [], []),
      (1, b("/bin/py") + [0], []), (2, b("/bin/perl"), [b("A") + [0]]),
    ]
    for (language, interpreter, environment) in cases {
      let f = frame(.exec) {
        $0.string(b("t"))
        $0.u8(language)
        $0.string(interpreter)
        $0.list(environment)
      }
      #expect(throws: WireError.self, "language \(language) interpreter \(interpreter)") { try Request(f) }
    }
    let truncated = frame(.exec) {
      $0.string(b("t"))
      $0.u8(1)
    }
    #expect(throws: WireError.self) { try Request(truncated) }
  }

  @Test("eval is request 0x14 (ref, u32 flags, code, arguments) and command 0x86 (the same spec)")
  func evalBytes() throws {
    let eval = Request.eval(ref: b("t"), EvalSpec(code: b("x=1"), arguments: [b("a")]))
    #expect(
      eval.frame().encoded() == [
        0x01, 0x14, 0, 0, 25, 0, 0, 0,
        1, 0, 0, 0, 0x74,
        0, 0, 0, 0,
        3, 0, 0, 0, 0x78, 0x3d, 0x31,
        1, 0, 0, 0, 1, 0, 0, 0, 0x61,
      ])
    #expect(try Request(throughDecoder(eval.frame())) == eval)
    let inDirectory = Request.eval(ref: b("t"), EvalSpec(code: b("pass"), hasWorkingDirectory: true))
    #expect(inDirectory.frame().fdCount == 1)
    #expect(Array(inDirectory.frame().payload[5..<9]) == [2, 0, 0, 0])
    #expect(try Request(throughDecoder(inDirectory.frame())) == inDirectory)
    let command = Command.eval(EvalSpec(code: b("1"), arguments: [notUTF8], hasWorkingDirectory: true))
    #expect(command.frame().type.rawValue == 0x86)
    #expect(command.frame().fdCount == 1)
    #expect(
      command.frame().payload == Array(inDirectory.frame().payload.dropFirst(5)).prefix(4) + [1, 0, 0, 0, 0x31]
        + [1, 0, 0, 0, 6, 0, 0, 0] + notUTF8)
    #expect(try Command(throughDecoder(command.frame())) == command)
  }

  @Test("eval refuses unknown flags, empty code, NUL bytes, and descriptors unlike its flags")
  func badEval() {
    let cases: [(UInt32, [UInt8], [[UInt8]])] = [
      (1, b("x"), []), (4, b("x"), []), (0, [], []), (0, [0x78, 0], []), (0, b("x"), [[0x61, 0]]),
    ]
    for (flags, code, arguments) in cases {
      let f = frame(.eval) {
        $0.string(b("t"))
        $0.u32(flags)
        $0.string(code)
        $0.list(arguments)
      }
      #expect(throws: WireError.self, "flags \(flags) code \(code)") { try Request(f) }
      let c = frame(.commandEval) {
        $0.u32(flags)
        $0.string(code)
        $0.list(arguments)
      }
      #expect(throws: WireError.self, "command flags \(flags) code \(code)") { try Command(c) }
    }
    let plain = Request.eval(ref: b("t"), EvalSpec(code: b("x"))).frame()
    #expect(throws: WireError.self) { try Request(Frame(type: .eval, payload: plain.payload, fdCount: 1)) }
    let flagged = Command.eval(EvalSpec(code: b("x"), hasWorkingDirectory: true)).frame()
    #expect(throws: WireError.self) { try Command(Frame(type: .commandEval, payload: flagged.payload, fdCount: 0)) }
  }

  @Test("hostChild 0xc7 is a pid with exactly one descriptor; childEnded 0xc8 a pid and a status")
  func reportBytes() throws {
    let child = Report.hostChild(pid: 0x1234)
    #expect(child.frame().encoded() == [0x01, 0xc7, 1, 0, 4, 0, 0, 0, 0x34, 0x12, 0, 0])
    #expect(try Report(throughDecoder(child.frame())) == child)
    let ended = Report.childEnded(pid: 0x1234, status: .exited(3))
    #expect(ended.frame().encoded() == [0x01, 0xc8, 0, 0, 9, 0, 0, 0, 0x34, 0x12, 0, 0, 1, 3, 0, 0, 0])
    #expect(try Report(throughDecoder(ended.frame())) == ended)
    for status in [ExitStatus.signaled(9, coreDumped: false), .signaled(11, coreDumped: true)] {
      let r = Report.childEnded(pid: 7, status: status)
      #expect(try Report(throughDecoder(r.frame())) == r)
    }
  }

  @Test("hostChild without its pidfd or with two, a pid of 0, and childEnded with tag 0 or 4 are refused")
  func badReports() {
    let pid = frame(.hostChild, fds: 1) { $0.i32(5) }
    for fds in [0, 2] {
      #expect(throws: WireError.self, "\(fds) fds") {
        try Report(Frame(type: .hostChild, payload: pid.payload, fdCount: fds))
      }
    }
    #expect(throws: WireError.self) { try Report(frame(.hostChild, fds: 1) { $0.i32(0) }) }
    for tag: UInt8 in [0, 4] {
      let f = frame(.childEnded) {
        $0.i32(5)
        $0.u8(tag)
        $0.i32(0)
      }
      #expect(throws: WireError.self, "tag \(tag)") { try Report(f) }
    }
    #expect(throws: WireError.self) {
      try Report(
        frame(.childEnded, fds: 1) {
          $0.i32(5)
          $0.u8(1)
          $0.i32(0)
        })
    }
    #expect(throws: WireError.self) {
      try Report(
        frame(.childEnded) {
          $0.i32(-1)
          $0.u8(1)
          $0.i32(0)
        })
    }
  }

  @Test("the mappings reply carries the modules a host's worker imported after its fork, in order")
  func mappingsModules() throws {
    let reply = Reply.mappings([b("/a")], modules: [b("json"), b("json.decoder")])
    #expect(
      reply.frame().payload == [1, 0, 0, 0, 2, 0, 0, 0, 0x2f, 0x61, 2, 0, 0, 0, 4, 0, 0, 0] + b("json")
        + [12, 0, 0, 0] + b("json.decoder"))
    #expect(try Reply(throughDecoder(reply.frame())) == reply)
    // The modules list is not optional: a reply that ends after the paths is truncated.
    let old = frame(.mappings) { $0.list([b("/a")]) }
    #expect(throws: WireError.self) { try Reply(old) }
  }

  @Test("the native template's eval refusal names what eval needs")
  func languages() {
    #expect(HostLanguage(rawValue: 1) == .python && HostLanguage(rawValue: 2) == .perl)
    #expect(HostLanguage.allCases.map(\.name) == ["python", "perl"])
    #expect(MessageType(rawValue: 0x14) == .eval && MessageType(rawValue: 0x86) == .commandEval)
    #expect(MessageType(rawValue: 0xc7) == .hostChild && MessageType(rawValue: 0xc8) == .childEnded)
  }
}
