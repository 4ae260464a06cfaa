import ForkctlWire
import Testing

// What the daemon keeps of a program string and how a listing is fitted into one reply
// (issue 11, item 12a), without processes.
@testable import ForkctlDaemon

@Suite struct ProgramBoundsTests {
  @Test("a long program string is kept as its first bytes and ..., never cut inside a UTF-8 sequence")
  func programKeptShort() {
    let short = Array("/bin/true".utf8)
    #expect(Run.kept(short) == short)
    let long = [UInt8](repeating: UInt8(ascii: "a"), count: 5000)
    let kept = Run.kept(long)
    #expect(kept.count == DaemonDefaults.maxProgramBytesKept)
    #expect(kept.suffix(3) == Array("...".utf8))
    // "é" is two bytes: a cut that would split one backs up to before it.
    let accents = Array(String(repeating: "é", count: 10).utf8)
    let cut = Run.shortened(accents, to: 10)
    #expect(cut == Array("ééé...".utf8))
    #expect(String(validating: cut, as: UTF8.self) != nil)
  }

  @Test("a listing too large for one frame has every program cut to the same length, and fits")
  func listingFitted() {
    let entries = (1...8).map { n in
      ProcessEntry(
        id: UInt64(n), name: [], role: .forked, parent: 1, pid: 100, state: .exited, status: .exited(1),
        fdsSent: 0, argumentsSent: 0,
        program: [UInt8](repeating: UInt8(ascii: "p"), count: n == 1 ? 10 : 4096))
    }
    let limit = 10_000
    let fitted = Supervisor<RecordingEffects>.fitted(entries, within: limit)
    #expect(Reply.listing(fitted).frame().payload.count <= limit)
    #expect(fitted[0].program.count == 10)
    let lengths = Set(fitted.dropFirst().map(\.program.count))
    #expect(lengths.count == 1 && lengths.first! > 100, "\(lengths)")
    #expect(Supervisor<RecordingEffects>.fitted(entries) == entries)
  }
}
