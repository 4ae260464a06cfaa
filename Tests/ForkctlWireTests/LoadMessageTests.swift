// Issue 12's messages byte for byte, as forkctl-protocol(7) documents them: the load request
// and command, the loaded reply and reports, and the run spec's call bits.
import Testing

@testable import ForkctlWire

@Suite struct LoadMessageTests {
  @Test("load is type 0x10: ref, u32 flags, path, init, arguments; its reply 0x46 is a thread count and names")
  func loadBytes() throws {
    let load = Request.load(
      ref: b("t"), LoadSpec(path: b("./l.so"), initSymbol: b("i"), arguments: [b("a")], global: true))
    #expect(
      load.frame().encoded() == [
        0x01, 0x10, 0, 0, 33, 0, 0, 0,
        1, 0, 0, 0, 0x74,
        1, 0, 0, 0,
        6, 0, 0, 0, 0x2e, 0x2f, 0x6c, 0x2e, 0x73, 0x6f,
        1, 0, 0, 0, 0x69,
        1, 0, 0, 0, 1, 0, 0, 0, 0x61,
      ])
    #expect(try Request(throughDecoder(load.frame())) == load)
    let loaded = Reply.loaded(ThreadCensus(names: [b("a"), b("bc")]))
    #expect(
      loaded.frame().encoded() == [
        0x01, 0x46, 0, 0, 19, 0, 0, 0,
        2, 0, 0, 0,
        2, 0, 0, 0, 1, 0, 0, 0, 0x61, 2, 0, 0, 0, 0x62, 0x63,
      ])
    #expect(try Reply(throughDecoder(loaded.frame())) == loaded)
  }

  @Test("the load command 0x85 and the reports 0xc5 and 0xc6 round-trip")
  func commandAndReports() throws {
    let command = Command.load(LoadSpec(path: b("libz.so.1")))
    #expect(command.frame().type.rawValue == 0x85)
    #expect(try Command(throughDecoder(command.frame())) == command)
    let loaded = Report.loaded(ThreadCensus(names: [b("forkctl/object")]))
    #expect(loaded.frame().type.rawValue == 0xc5)
    #expect(try Report(throughDecoder(loaded.frame())) == loaded)
    let refused = Report.loadRefused(.loadFailed, message: b("no such file"))
    #expect(refused.frame().type.rawValue == 0xc6)
    #expect(try Report(throughDecoder(refused.frame())) == refused)
    // The same payload as refused (0xc1), a different answer.
    #expect(refused.frame().payload == Report.refused(.loadFailed, message: b("no such file")).frame().payload)
    #expect(Report.refused(.loadFailed, message: b("x")).frame().type == .refused)
  }

  @Test("unknown load flags, an empty path, NUL bytes, descriptors and a count unlike the names are refused")
  func badLoads() {
    let cases: [(UInt32, [UInt8], [UInt8], [[UInt8]])] = [
      (2, b("l.so"), [], []), (0, [], [], []), (0, [0x6c, 0], [], []), (0, b("l.so"), [0x69, 0], []),
      (0, b("l.so"), [], [[0x61, 0]]),
    ]
    for (flags, path, initSymbol, arguments) in cases {
      let f = frame(.load) {
        $0.string(b("t"))
        $0.u32(flags)
        $0.string(path)
        $0.string(initSymbol)
        $0.list(arguments)
      }
      #expect(throws: WireError.self, "flags \(flags) path \(path)") { try Request(f) }
    }
    let good = Request.load(ref: b("t"), LoadSpec(path: b("l.so"))).frame()
    #expect(throws: WireError.self) { try Request(Frame(type: .load, payload: good.payload, fdCount: 1)) }
    let mismatched = frame(.loaded) {
      $0.u32(2)
      $0.list([b("a")])
    }
    #expect(throws: WireError.self) { try Reply(mismatched) }
  }

  @Test("a call is bit 128 of the run spec flags, quick exit bit 256, which alone is refused")
  func callBits() throws {
    let call = Request.run(ref: b("w"), spec: RunSpec(program: b("f"), entry: .call(quickExit: true)))
    // ref "w", then the spec flags word: 128 + 256.
    #expect(Array(call.frame().payload[5..<9]) == [0x80, 1, 0, 0])
    #expect(try Request(throughDecoder(call.frame())) == call)
    let plain = Request.run(ref: b("w"), spec: RunSpec(program: b("f"), entry: .call(quickExit: false)))
    #expect(Array(plain.frame().payload[5..<9]) == [0x80, 0, 0, 0])
    let quickAlone = frame(.run) {
      $0.string(b("w"))
      $0.u32(256)
      $0.string(b("f"))
      $0.list([])
    }
    #expect(throws: WireError.self) { try Request(quickAlone) }
  }

  @Test("error codes 16 and 17 have names; the symbol step is 8")
  func codes() {
    #expect(ErrorCode.loadFailed.rawValue == 16 && ErrorCode.loadFailed.name == "loadFailed")
    #expect(ErrorCode.symbolNotFound.rawValue == 17 && ErrorCode.symbolNotFound.name == "symbolNotFound")
    #expect(ExecFailure(rawValue: ExecFailure(step: .symbol, errno: 2).rawValue).step == .symbol)
    #expect(ExecFailure.Step.symbol.rawValue == 8)
  }
}
