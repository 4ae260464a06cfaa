import ForkctlSys
import Glibc
import Testing

@Suite struct SignalTests {
  @Test("every standard signal's name gives the signal back, bare, with SIG and in any case")
  func namesRoundTrip() {
    #expect(Signal.standard.count == 31)
    for (signal, name) in Signal.standard {
      #expect(signal.name == name)
      #expect(Signal(name: name) == signal)
      #expect(Signal(name: "SIG" + name) == signal)
      #expect(Signal(name: "sig" + name.lowercased()) == signal)
      #expect(signal.description == "SIG" + name)
    }
  }

  @Test("the standard signals are Linux's 1 to 31, each once")
  func standardNumbers() {
    #expect(Signal.standard.map(\.signal.rawValue) == Array(1...31))
    #expect(Signal.terminate.rawValue == SIGTERM)
    #expect(Signal.child.rawValue == SIGCHLD)
    #expect(Signal.terminalStop.rawValue == SIGTSTP)
  }

  @Test(
    "junk is no signal name",
    arguments: ["", "SIG", "FOO", "SIGFOO", "TERMX", "15", " TERM", "SIGSIGTERM", "RTMIN"])
  func junkRejected(_ junk: String) {
    #expect(Signal(name: junk) == nil)
  }

  @Test("the real-time range is glibc's, above the standard signals, and has no names")
  func realtimeRange() {
    #expect(Signal.realtimeMin.rawValue > 31)
    #expect(Signal.realtimeMin.rawValue < Signal.realtimeMax.rawValue)
    #expect(Signal.realtimeMin.name == nil)
    #expect(Signal.realtimeMax.description == "signal \(Signal.realtimeMax.rawValue)")
  }
}
