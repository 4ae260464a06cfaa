import Testing

@testable import ForkctlWire

/// A few frames of different shapes: empty payload, descriptors, a payload larger than the
/// decoder's 64 KiB read size.
private let sampleFrames: [Frame] = [
  Request.hello.frame(),
  Request.sendFDs(ref: b("w"), targets: [nil, 7, nil]).frame(),
  Request.list.frame(),
  Request.sendArgs(ref: b("big"), arguments: [[UInt8](repeating: 0x61, count: 150_000)]).frame(),
  Command.fork(id: 5).frame(),
  Reply.ok.frame(),
  Command.run(RunSpec(program: b("x"), hasWorkingDirectory: true), statusPipe: true).frame(),
]

private func drain(_ decoder: inout FrameDecoder) throws(WireError) -> [Frame] {
  var out: [Frame] = []
  while let f = try decoder.next() { out.append(f) }
  return out
}

@Suite("FrameDecoder")
struct FrameDecoderTests {
  // MARK: Feeding patterns

  @Test("frames without descriptors all appended in one buffer come out in order")
  func allFramesInOneBuffer() throws {
    let frames = sampleFrames.filter { $0.fdCount == 0 }
    var decoder = FrameDecoder()
    decoder.append(frames.flatMap { $0.encoded() })
    #expect(try drain(&decoder) == frames)
    #expect(decoder.isAtFrameBoundary)
    #expect(!decoder.isReady)
    #expect(try decoder.next() == nil)
  }

  @Test("one buffer holding several frames credits its descriptors to the first frame")
  func oneBufferDescriptorsGoToFirstFrame() throws {
    let first = Request.sendFDs(ref: b("w"), targets: [nil, nil]).frame()
    let rest = [Request.list.frame(), Reply.ok.frame()]
    var decoder = FrameDecoder()
    decoder.append(first.encoded() + rest.flatMap { $0.encoded() }, fdCount: 2)
    #expect(try drain(&decoder) == [first] + rest)
    #expect(decoder.unclaimedFDs == 0)
  }

  @Test("one byte at a time yields each frame exactly when its last byte arrives")
  func oneByteAtATime() throws {
    var decoder = FrameDecoder()
    var out: [Frame] = []
    for f in sampleFrames {
      let bytes = f.encoded()
      for (i, byte) in bytes.enumerated() {
        #expect(!decoder.isReady)
        decoder.append([byte], fdCount: i == 0 ? f.fdCount : 0)
        let last = i == bytes.count - 1
        #expect(decoder.isReady == last)
        #expect(decoder.isAtFrameBoundary == false)
        if let got = try decoder.next() {
          #expect(last)
          out.append(got)
        } else {
          #expect(!last)
        }
      }
      #expect(decoder.isAtFrameBoundary)
    }
    #expect(out == sampleFrames)
  }

  @Test("one frame per append yields that frame and leaves the decoder at a boundary")
  func oneFramePerAppend() throws {
    var decoder = FrameDecoder()
    for f in sampleFrames {
      decoder.append(f.encoded(), fdCount: f.fdCount)
      #expect(decoder.isReady)
      #expect(try decoder.next() == f)
      #expect(decoder.isAtFrameBoundary)
      #expect(try decoder.next() == nil)
    }
  }

  @Test("truncated input gives no frame and no error, and is not at a frame boundary")
  func truncatedInput() throws {
    for f in sampleFrames {
      let bytes = f.encoded()
      for cut in [1, 4, 7, 8, bytes.count - 1] where cut < bytes.count {
        var decoder = FrameDecoder()
        decoder.append(bytes.prefix(cut), fdCount: f.fdCount)
        #expect(try decoder.next() == nil)
        #expect(!decoder.isReady)
        #expect(!decoder.isAtFrameBoundary)
        #expect(try decoder.next() == nil)  // asking again changes nothing
        decoder.append(bytes.dropFirst(cut))
        #expect(try decoder.next() == f)
      }
    }
  }

  @Test("an empty decoder is at a frame boundary, not ready, and yields nothing")
  func emptyDecoder() throws {
    var decoder = FrameDecoder()
    #expect(decoder.isAtFrameBoundary)
    #expect(!decoder.isReady)
    #expect(try decoder.next() == nil)
    #expect(decoder.bytesWanted == WireLimits.headerSize)
  }

  // MARK: Header checks

  @Test("a payload length over the limit is refused as soon as the header is in, without the payload")
  func oversizedPayload() throws {
    let tooBig = WireLimits.maxPayload + 1
    let h = header(type: MessageType.new.rawValue, length: UInt32(tooBig))
    var decoder = FrameDecoder()
    decoder.append(h.prefix(7))
    #expect(!decoder.isReady)
    #expect(try decoder.next() == nil)
    decoder.append(h.suffix(1))
    #expect(decoder.isReady)
    #expect(throws: WireError.payloadTooLarge(tooBig)) { try decoder.next() }
  }

  @Test("the largest 32-bit payload length is refused too")
  func hugePayloadLength() {
    var decoder = FrameDecoder()
    decoder.append(header(type: MessageType.list.rawValue, length: UInt32.max))
    #expect(throws: WireError.payloadTooLarge(Int(UInt32.max))) { try decoder.next() }
  }

  @Test("a payload length of exactly the limit is accepted and waits for the payload")
  func payloadAtLimit() throws {
    var decoder = FrameDecoder()
    decoder.append(header(type: MessageType.sendArgs.rawValue, length: UInt32(WireLimits.maxPayload)))
    #expect(!decoder.isReady)
    #expect(try decoder.next() == nil)
    #expect(decoder.bytesWanted == 64 * 1024)
  }

  @Test("more descriptors declared than a frame may carry is refused after the fd count bytes")
  func tooManyFDsDeclared() throws {
    let n = WireLimits.maxFDsPerFrame + 1
    let h = header(type: MessageType.sendFDs.rawValue, fds: UInt16(n), length: 100)
    var decoder = FrameDecoder()
    decoder.append(h.prefix(3))
    #expect(!decoder.isReady)
    #expect(try decoder.next() == nil)
    decoder.append(h[3...3])
    #expect(decoder.isReady)
    #expect(throws: WireError.tooManyFDs(n)) { try decoder.next() }
  }

  @Test("exactly the per-frame descriptor limit is accepted")
  func fdsAtLimit() throws {
    let f = Frame(type: .sendFDs, payload: [1, 2, 3], fdCount: WireLimits.maxFDsPerFrame)
    var decoder = FrameDecoder()
    decoder.append(f.encoded(), fdCount: WireLimits.maxFDsPerFrame)
    #expect(try decoder.next() == f)
  }

  @Test("descriptors piling up without a complete frame are refused past one frame's limit")
  func tooManyUnclaimedFDs() throws {
    var decoder = FrameDecoder()
    let h = header(type: MessageType.sendFDs.rawValue, fds: 1, length: 10)
    decoder.append(h.prefix(2), fdCount: WireLimits.maxFDsPerFrame)
    #expect(!decoder.isReady)
    #expect(try decoder.next() == nil)
    decoder.append(h[2...4], fdCount: 1)
    #expect(decoder.unclaimedFDs == WireLimits.maxFDsPerFrame + 1)
    #expect(decoder.isReady)
    #expect(throws: WireError.tooManyFDs(WireLimits.maxFDsPerFrame + 1)) { try decoder.next() }
  }

  @Test("a wrong version is refused after the first byte", arguments: [UInt8(0), 2, 0xff])
  func wrongVersion(_ version: UInt8) {
    var decoder = FrameDecoder()
    decoder.append([version])
    #expect(decoder.isReady)
    #expect(throws: WireError.unsupportedVersion(version)) { try decoder.next() }
  }

  @Test("an unknown type is refused after the second byte", arguments: [UInt8(0), 0x16, 0x3f, 0x4c, 0x87, 0xca, 0xff])
  func unknownType(_ type: UInt8) {
    var decoder = FrameDecoder()
    decoder.append([WireLimits.version])
    #expect(!decoder.isReady)
    decoder.append([type])
    #expect(decoder.isReady)
    #expect(throws: WireError.unknownType(type)) { try decoder.next() }
  }

  // MARK: Descriptor attribution

  @Test("a frame declaring 2 descriptors whose chunk came with 1 is a count mismatch")
  func fdCountMismatch() {
    let f = Request.sendFDs(ref: b("w"), targets: [nil, nil]).frame()
    var decoder = FrameDecoder()
    decoder.append(f.encoded(), fdCount: 1)
    #expect(throws: WireError.fdCountMismatch(type: MessageType.sendFDs.rawValue, declared: 2, received: 1)) {
      try decoder.next()
    }
  }

  @Test("descriptors arriving with a frame that declares none are a count mismatch")
  func unexpectedDescriptors() {
    var decoder = FrameDecoder()
    decoder.append(Request.list.frame().encoded(), fdCount: 1)
    #expect(throws: WireError.fdCountMismatch(type: MessageType.list.rawValue, declared: 0, received: 1)) {
      try decoder.next()
    }
  }

  @Test("descriptors that came with a chunk of frame B are credited to B, not to A before it")
  func fdsCreditedToTheirOwnFrame() throws {
    let a = Request.list.frame()
    let bFrame = Request.sendFDs(ref: b("w"), targets: [nil]).frame()
    var decoder = FrameDecoder()
    decoder.append(a.encoded())
    decoder.append(bFrame.encoded(), fdCount: 1)
    #expect(try decoder.next() == a)
    #expect(decoder.unclaimedFDs == 1)
    #expect(try decoder.next() == bFrame)
    #expect(decoder.unclaimedFDs == 0)
  }

  @Test("a frame missing its descriptors does not borrow those of the next frame's chunk")
  func fdsAreNotBorrowedFromLaterChunks() {
    let a = Request.sendFDs(ref: b("a"), targets: [nil]).frame()
    let bFrame = Request.sendFDs(ref: b("b"), targets: [nil]).frame()
    var decoder = FrameDecoder()
    decoder.append(a.encoded())
    decoder.append(bFrame.encoded(), fdCount: 1)
    #expect(throws: WireError.fdCountMismatch(type: MessageType.sendFDs.rawValue, declared: 1, received: 0)) {
      try decoder.next()
    }
  }

  @Test("descriptors of a chunk that starts mid-frame are credited to the frame holding its first byte")
  func fdsOfMidFrameChunk() throws {
    let f = Request.sendFDs(ref: b("w"), targets: [nil, nil]).frame()
    let bytes = f.encoded()
    var decoder = FrameDecoder()
    decoder.append(bytes.prefix(10))
    decoder.append(bytes.dropFirst(10).prefix(3), fdCount: 1)
    decoder.append(bytes.dropFirst(13), fdCount: 1)
    #expect(try decoder.next() == f)
    #expect(decoder.unclaimedFDs == 0)
  }

  @Test("descriptors with an empty chunk go to the next frame's first byte")
  func fdsWithEmptyChunk() throws {
    let f = Request.sendFDs(ref: b("w"), targets: [nil]).frame()
    var decoder = FrameDecoder()
    decoder.append([UInt8](), fdCount: 1)
    #expect(decoder.unclaimedFDs == 1)
    decoder.append(f.encoded())
    #expect(try decoder.next() == f)
  }

  // MARK: Error stickiness

  @Test("after an error next() keeps throwing the same error, even when valid bytes follow")
  func errorIsSticky() {
    var decoder = FrameDecoder()
    decoder.append([7])
    #expect(throws: WireError.unsupportedVersion(7)) { try decoder.next() }
    decoder.append(Request.list.frame().encoded())
    #expect(decoder.isReady)
    for _ in 0..<3 {
      #expect(throws: WireError.unsupportedVersion(7)) { try decoder.next() }
    }
  }

  @Test("a count mismatch also sticks")
  func mismatchIsSticky() {
    var decoder = FrameDecoder()
    decoder.append(Request.list.frame().encoded(), fdCount: 2)
    let e = WireError.fdCountMismatch(type: MessageType.list.rawValue, declared: 0, received: 2)
    #expect(throws: e) { try decoder.next() }
    decoder.append(Request.list.frame().encoded())
    #expect(throws: e) { try decoder.next() }
  }

  // MARK: bytesWanted and isReady

  @Test("a reader that reads bytesWanted while not ready never crosses a frame end")
  func bytesWantedStaysWithinTheFrame() throws {
    // A reader like the daemon's: read only while !isReady, at most bytesWanted, and attach
    // each frame's descriptors to the first read of it.
    var stream: [UInt8] = []
    var ends: [Int] = []
    for f in sampleFrames {
      stream += f.encoded()
      ends.append(stream.count)
    }
    var decoder = FrameDecoder()
    var position = 0
    var frameIndex = 0
    var out: [Frame] = []
    var reads = 0
    while frameIndex < sampleFrames.count {
      if decoder.isReady {
        let f = try #require(try decoder.next())
        out.append(f)
        #expect(decoder.isAtFrameBoundary)
        frameIndex += 1
        continue
      }
      let want = decoder.bytesWanted
      let rest = ends[frameIndex] - position
      #expect(want >= 1)
      #expect(want <= rest, "bytesWanted \(want) with \(rest) bytes left in frame \(frameIndex)")
      #expect(want <= 64 * 1024)
      let startOfFrame = position == (frameIndex == 0 ? 0 : ends[frameIndex - 1])
      let n = min(want, rest)
      decoder.append(stream[position..<(position + n)], fdCount: startOfFrame ? sampleFrames[frameIndex].fdCount : 0)
      position += n
      reads += 1
      #expect(reads < 10_000)
      if reads >= 10_000 { break }
    }
    #expect(out == sampleFrames)
    #expect(position == stream.count)
  }

  @Test("bytesWanted asks for the rest of the header first, then the rest of the payload")
  func bytesWantedValues() {
    let f = Request.new(name: b("abcdef")).frame()  // payload 10
    let bytes = f.encoded()
    var decoder = FrameDecoder()
    #expect(decoder.bytesWanted == 8)
    decoder.append(bytes.prefix(3))
    #expect(decoder.bytesWanted == 5)
    decoder.append(bytes[3..<8])
    #expect(decoder.bytesWanted == 10)
    decoder.append(bytes[8..<15])
    #expect(decoder.bytesWanted == 3)
  }

  @Test("isReady is true with a complete frame or a detectable error, false otherwise")
  func isReadySemantics() throws {
    var decoder = FrameDecoder()
    #expect(!decoder.isReady)
    let f = Request.kill(signal: 15, refs: [b("1")]).frame()
    let bytes = f.encoded()
    decoder.append(bytes.dropLast())
    #expect(!decoder.isReady)
    decoder.append(bytes.suffix(1))
    #expect(decoder.isReady)
    // Two frames buffered: still ready after taking the first.
    decoder.append(bytes)
    #expect(try decoder.next() == f)
    #expect(decoder.isReady)
    #expect(try decoder.next() == f)
    #expect(!decoder.isReady)
    // Garbage is "ready" (next() has an answer: the error) before next() is called.
    decoder.append([1, 0xee])
    #expect(decoder.isReady)
    #expect(throws: WireError.unknownType(0xee)) { try decoder.next() }
    #expect(decoder.isReady)
  }

  @Test("a long stream keeps attributing descriptors correctly after the buffer is compacted")
  func longStream() throws {
    let f = Request.sendFDs(ref: b("w"), targets: [nil]).frame()
    let big = Request.sendArgs(ref: b("w"), arguments: [[UInt8](repeating: 0x62, count: 70_000)]).frame()
    var decoder = FrameDecoder()
    for round in 0..<50 {
      decoder.append(big.encoded().prefix(40_000))
      decoder.append(big.encoded().dropFirst(40_000) + f.encoded().prefix(3))
      #expect(try decoder.next() == big, "round \(round)")
      decoder.append(f.encoded().dropFirst(3), fdCount: 1)  // chunk starts inside f: credited to f
      #expect(try decoder.next() == f, "round \(round)")
      #expect(decoder.isAtFrameBoundary)
    }
  }
}
