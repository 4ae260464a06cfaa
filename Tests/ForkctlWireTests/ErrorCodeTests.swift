import ForkctlWire
import Testing

// ErrorCode is open: a code a newer daemon adds must reach an older client as a refusal with
// the daemon's message, never as a broken frame.
@Suite("Error codes")
struct ErrorCodeTests {
  @Test("a failure reply carrying a code this side does not know decodes, keeping the code")
  func unknownCodeInFailureDecodes() throws {
    let failure = frame(.failure) { w in
      w.u16(999)
      w.string(b("pools are full"))
    }
    let reply = try Reply(try throughDecoder(failure))
    #expect(reply == .failure(ErrorCode(rawValue: 999), message: b("pools are full")))
    #expect(reply.frame() == failure)
  }

  @Test("a refused report carrying code 0 decodes, keeping the code")
  func unknownCodeInRefusedDecodes() throws {
    let refused = frame(.refused) { w in
      w.u16(0)
      w.string([])
    }
    #expect(try Report(refused) == .refused(ErrorCode(rawValue: 0), message: []))
    #expect(try Report(refused).frame() == refused)
  }

  @Test("every known code has its number of forkctl-protocol(7) and its name; others say their number")
  func namesAndNumbers() {
    let known: [(ErrorCode, UInt16, String)] = [
      (.unknownProcess, 1, "unknownProcess"), (.wrongState, 2, "wrongState"), (.badRequest, 3, "badRequest"),
      (.limitReached, 4, "limitReached"), (.templateFailed, 5, "templateFailed"),
      (.programNotFound, 6, "programNotFound"), (.programNotExecutable, 7, "programNotExecutable"),
      (.execFailed, 8, "execFailed"), (.permissionDenied, 9, "permissionDenied"),
      (.internalError, 10, "internalError"), (.protocolError, 11, "protocolError"),
      (.shuttingDown, 12, "shuttingDown"), (.nameTaken, 13, "nameTaken"),
      (.workingDirectoryFailed, 14, "workingDirectoryFailed"), (.stillRunning, 15, "stillRunning"),
      (.loadFailed, 16, "loadFailed"), (.symbolNotFound, 17, "symbolNotFound"),
      (.unknownPool, 18, "unknownPool"),
    ]
    for (code, number, name) in known {
      #expect(code.rawValue == number)
      #expect(code.name == name && code.description == name)
      #expect(ErrorCode(rawValue: number) == code)
    }
    for number: UInt16 in [0, 19, 999, .max] {
      #expect(ErrorCode(rawValue: number).name == nil)
      #expect(ErrorCode(rawValue: number).description == "error code \(number)")
    }
  }

  @Test("a known code still matches in a switch, as the enum's cases did")
  func patternMatching() {
    func exit(_ code: ErrorCode) -> Int {
      switch code {
      case .programNotFound: return 127
      case .programNotExecutable, .execFailed: return 126
      default: return 125
      }
    }
    #expect(exit(.programNotFound) == 127 && exit(.execFailed) == 126)
    #expect(exit(.wrongState) == 125 && exit(ErrorCode(rawValue: 999)) == 125)
  }
}
