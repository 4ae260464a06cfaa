import ForkctlWire

// The property the codec must have for any bytes at all. One copy, compiled twice: here, so
// that `swift test` replays Fuzz/corpus and the fuzz regressions through it
// (FuzzRegressionTests.swift), and by Scripts/fuzz into the libFuzzer target together with
// Fuzz/FuzzCodec.swift. So it imports ForkctlWire and the standard library only, and uses
// nothing of the codec that is not public.
//
// A fuzz input is two control bytes and then the stream a peer sent:
//
//   byte 0  bit 0  honest descriptors: each frame's declared count arrives with one chunk
//                  that starts inside the frame, as a sender that attaches them to one
//                  sendmsg of the frame's bytes does; otherwise every chunk carries a count
//                  drawn at random (mostly 0, now and then more than a frame may hold)
//          bit 1  chunks no longer than `bytesWanted`, as the daemon and the client read
//                 (either way, a quarter of the chunks are appended without asking for frames)
//          bit 2  the stream repeated past 64 KiB, so that the decoder compacts its buffer
//          bits 3-7, byte 1  seed of the generator that chooses the chunk sizes
//   2...   the stream
//
// The stream is also read by an independent model of the frame layout, and the decoder must
// agree with it frame for frame, down to the error it ends with (with dishonest descriptors,
// up to the frame where it stops over them).
//
// The stream is also read whole as each unframed protocol reads what it is sent (a status
// pipe's ExecFailureReport, a daemon's Readiness line): what decodes must encode to the same
// bytes.

/// A property of the codec that did not hold: a bug in the codec, never merely bad input.
struct CodecFinding: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The control bits of a fuzz input's first byte.
enum CodecFuzzFlags {
  static let honestDescriptors: UInt8 = 1
  static let readerSizedChunks: UInt8 = 2
  static let repeatedStream: UInt8 = 4
}

/// Decodes a fuzz input and checks every property; throws the first that fails. Returns the
/// message types that decoded into a message (so a corpus can be shown to reach them all).
@discardableResult
func checkCodec(fuzzInput input: [UInt8]) throws(CodecFinding) -> Set<MessageType> {
  let flags = input.first ?? 0
  let honest = flags & CodecFuzzFlags.honestDescriptors != 0
  var random = SplitMix64(seed: UInt64(flags >> 3) << 8 | UInt64(input.count > 1 ? input[1] : 0))
  var stream = Array(input.dropFirst(2))
  try checkUnframed(stream)
  // The decoder compacts its buffer only once it has consumed 64 KiB while holding part of a
  // frame: so a repeated stream is cut anywhere but at the end of a frame.
  let repeated = flags & CodecFuzzFlags.repeatedStream != 0 && !stream.isEmpty
  if repeated {
    let once = stream
    while stream.count <= 64 * 1024 + 8 { stream += once }
  }
  let model = StreamModel(stream, creditsAfterFrameStart: repeated, random: &random)
  let frameEnds = repeated ? Set(model.frameEnds) : []

  var decoder = FrameDecoder()
  var frames: [Frame] = []
  var failure: WireError?
  var decodedTypes = Set<MessageType>()
  var checked = Set<[UInt8]>()
  var position = 0
  var nextCredit = 0
  while position < stream.count, failure == nil {
    var length = chunkLength(&random)
    if repeated { length = max(length, 2) }
    if flags & CodecFuzzFlags.readerSizedChunks != 0 { length = min(length, decoder.bytesWanted) }
    var fds = 0
    if honest {
      if nextCredit < model.credits.count, model.credits[nextCredit].offset == position {
        fds = model.credits[nextCredit].count
        nextCredit += 1
      }
      if nextCredit < model.credits.count { length = min(length, model.credits[nextCredit].offset - position) }
    } else {
      fds = chunkDescriptors(&random)
    }
    length = min(length, stream.count - position)
    if repeated, length > 1, position + length < stream.count, frameEnds.contains(position + length) {
      length -= 1
    }
    decoder.append(stream[position..<(position + length)], fdCount: fds)
    position += length
    // Now and then a reader takes in more than one chunk before it asks for frames.
    if position < stream.count, random.below(4) == 0 { continue }

    while true {
      let ready = decoder.isReady
      let wanted = decoder.bytesWanted
      guard (1...64 * 1024).contains(wanted) else { throw CodecFinding("bytesWanted is \(wanted)") }
      let frame: Frame?
      do {
        frame = try decoder.next()
      } catch {
        guard ready else { throw CodecFinding("next() threw \(error) where isReady was false") }
        failure = error
        break
      }
      guard let frame else {
        guard !ready else { throw CodecFinding("next() wanted more bytes where isReady was true") }
        break
      }
      guard ready else { throw CodecFinding("next() returned a frame where isReady was false") }
      frames.append(frame)
      // A repeated stream holds the same frames thousands of times: check each once.
      if checked.insert(frame.encoded()).inserted {
        decodedTypes.formUnion(try checkFrame(frame))
      }
    }
  }

  if let failure {
    var again: WireError?
    do { _ = try decoder.next() } catch { again = error }
    guard again == failure else {
      throw CodecFinding("next() threw \(failure), then \(String(describing: again))")
    }
  }

  // Descriptors aside, the decoder must see the frames the model sees: all of them, unless
  // it stopped over descriptors a dishonest peer sent; with honest descriptors, exactly.
  let stoppedOverDescriptors: Bool
  switch failure {
  case .fdCountMismatch?, .tooManyFDs?: stoppedOverDescriptors = !honest
  default: stoppedOverDescriptors = false
  }
  let expected = stoppedOverDescriptors ? Array(model.frames.prefix(frames.count)) : model.frames
  guard frames == expected else {
    let i = zip(frames, expected).prefix { $0 == $1 }.count
    throw CodecFinding(
      "frame \(i) decoded as \(i < frames.count ? "\(frames[i])" : "none")"
        + " where the model has \(i < expected.count ? "\(expected[i])" : "none")")
  }
  if !stoppedOverDescriptors {
    guard failure == model.error else {
      throw CodecFinding(
        "decoding ended with \(String(describing: failure)), the model with \(String(describing: model.error))")
    }
  }
  if failure == nil {
    guard decoder.isAtFrameBoundary == model.endsAtFrameBoundary else {
      throw CodecFinding("after the stream, at a frame boundary is \(decoder.isAtFrameBoundary), not as the model")
    }
    guard !honest || decoder.unclaimedFDs == model.pendingFDs else {
      throw CodecFinding(
        "after the stream, \(decoder.unclaimedFDs) descriptors unclaimed, the model has \(model.pendingFDs)")
    }
    if model.endsAtFrameBoundary, frames.flatMap({ $0.encoded() }) != stream {
      throw CodecFinding("the decoded frames re-encode to other bytes than the stream")
    }
  }
  return decodedTypes
}

/// Checks one decoded frame: it goes through the decoder again unchanged, and every message
/// family that accepts it gives a message that survives encode and decode unchanged.
private func checkFrame(_ frame: Frame) throws(CodecFinding) -> Set<MessageType> {
  guard try redecode(frame) == frame else { throw CodecFinding("frame \(frame.type) changed through its bytes") }
  var families: [String] = []
  if try roundTrip(frame, "Request", decode: Request.init, encode: { $0.frame() }, variant: { $0.type == .hello }) {
    families.append("Request")
  }
  // A `listing` entry without a status has a value after its 0 tag that means nothing.
  let replyVariant: (Frame) -> Bool = { $0.type == .listing }
  if try roundTrip(frame, "Reply", decode: Reply.init, encode: { $0.frame() }, variant: replyVariant) {
    families.append("Reply")
  }
  if try roundTrip(frame, "Command", decode: Command.init, encode: { $0.frame() }, variant: { _ in false }) {
    families.append("Command")
  }
  if try roundTrip(frame, "Report", decode: Report.init, encode: { $0.frame() }, variant: { _ in false }) {
    families.append("Report")
  }
  guard families.count <= 1 else { throw CodecFinding("frame \(frame.type) decodes as \(families)") }
  return families.isEmpty ? [] : [frame.type]
}

/// Checks the protocols that are not frames on `bytes`, all that was read up to end of file:
/// what decodes re-encodes to exactly those bytes; what does not, says why.
private func checkUnframed(_ bytes: [UInt8]) throws(CodecFinding) {
  let report: ExecFailureReport?
  do {
    report = try ExecFailureReport.decode(bytes)
  } catch {
    guard bytes.count != 0, bytes.count != ExecFailureReport.size else {
      throw CodecFinding("status pipe bytes \(bytes), of a length a worker writes, are refused: \(error)")
    }
    try describes(error)
    report = nil
  }
  if bytes.count == 0 || bytes.count == ExecFailureReport.size, report?.encode() ?? [] != bytes {
    throw CodecFinding("status pipe bytes \(bytes) decode as \(String(describing: report)), encoded apart")
  }
  let readiness: Readiness
  do {
    readiness = try Readiness.decode(bytes)
  } catch {
    try describes(error)
    return
  }
  guard readiness.encode() == bytes else {
    throw CodecFinding("readiness bytes \(bytes) decode as \(readiness), encoded otherwise")
  }
}

private func describes(_ error: WireError) throws(CodecFinding) {
  guard !error.description.isEmpty else { throw CodecFinding("\(error) has no description") }
}

/// Decodes `frame` as M; when it does, checks encode -> bytes -> decode gives M back and
/// the same bytes again. The re-encoded frame must be the original one, unless `variant`
/// says the original is one of the documented other spellings of the same message (then
/// only its type and payload size must match).
private func roundTrip<M: Equatable>(
  _ frame: Frame, _ family: String, decode: (Frame) throws(WireError) -> M, encode: (M) -> Frame,
  variant: (Frame) -> Bool
) throws(CodecFinding) -> Bool {
  let message: M
  do {
    message = try decode(frame)
  } catch {
    guard !error.description.isEmpty else { throw CodecFinding("\(error) has no description") }
    return false
  }
  let encoded = encode(message)
  let what = "\(family) from frame \(frame.type) (\(frame.payload.count) bytes, \(frame.fdCount) fds)"
  guard encoded.type == frame.type else { throw CodecFinding("\(what) encodes as type \(encoded.type)") }
  if variant(frame) {
    guard encoded.payload.count == frame.payload.count else {
      throw CodecFinding("\(what) re-encodes to \(encoded.payload.count) bytes")
    }
  } else {
    guard encoded == frame else { throw CodecFinding("\(what) re-encodes to other bytes or fds") }
  }
  let decodedFrame = try redecode(encoded)
  guard decodedFrame == encoded else { throw CodecFinding("\(what): its frame changed through its bytes") }
  let again: M
  do {
    again = try decode(decodedFrame)
  } catch {
    throw CodecFinding("\(what) re-encodes to a frame it refuses: \(error)")
  }
  guard again == message else { throw CodecFinding("\(what) changed through encode and decode") }
  guard encode(again) == encoded else { throw CodecFinding("\(what) encodes differently the second time") }
  return true
}

/// The frame through a fresh decoder, sent as one chunk with its descriptors.
private func redecode(_ frame: Frame) throws(CodecFinding) -> Frame {
  var decoder = FrameDecoder()
  decoder.append(frame.encoded(), fdCount: frame.fdCount)
  let decoded: Frame?
  do {
    decoded = try decoder.next()
  } catch {
    throw CodecFinding("an encoded \(frame.type) frame does not decode: \(error)")
  }
  guard let decoded, decoder.isAtFrameBoundary, decoder.unclaimedFDs == 0 else {
    throw CodecFinding("an encoded \(frame.type) frame is not exactly one frame")
  }
  return decoded
}

/// The frame layout of forkctl-protocol(7), read front to back, written apart from
/// FrameDecoder: the frames a stream holds, how it ends, and where an honest sender's
/// descriptors arrive.
private struct StreamModel {
  var frames: [Frame] = []
  var error: WireError?
  var endsAtFrameBoundary = true
  /// Stream offsets (increasing) of the chunks that carry descriptors, and how many.
  var credits: [(offset: Int, count: Int)] = []
  /// Descriptors credited to the incomplete frame at the end.
  var pendingFDs = 0

  /// Stream offsets where a frame ends.
  var frameEnds: [Int] = []

  init(_ s: [UInt8], creditsAfterFrameStart: Bool, random: inout SplitMix64) {
    var o = 0
    while o < s.count {
      let available = s.count - o
      if s[o] != WireLimits.version {
        error = .unsupportedVersion(s[o])
        return
      }
      if available >= 2, MessageType(rawValue: s[o + 1]) == nil {
        error = .unknownType(s[o + 1])
        return
      }
      var declared = 0
      if available >= 4 {
        declared = Int(s[o + 2]) + 256 * Int(s[o + 3])
        if declared > WireLimits.maxFDsPerFrame {
          error = .tooManyFDs(declared)
          return
        }
      }
      var total: Int?
      if available >= WireLimits.headerSize {
        let length = (4..<8).reduce(0) { $0 + Int(s[o + $1]) << (8 * ($1 - 4)) }
        if length > WireLimits.maxPayload {
          error = .payloadTooLarge(length)
          return
        }
        total = WireLimits.headerSize + length
      }
      let end = min(s.count, o + (total ?? available))
      if declared > 0 {
        let first = creditsAfterFrameStart && end - o > 1 ? 1 : 0
        credits.append((offset: o + first + random.below(end - o - first), count: declared))
      }
      guard let total, total <= available else {
        endsAtFrameBoundary = false
        pendingFDs = declared
        return
      }
      frames.append(
        Frame(
          type: MessageType(rawValue: s[o + 1])!, payload: Array(s[(o + WireLimits.headerSize)..<(o + total)]),
          fdCount: declared))
      o += total
      frameEnds.append(o)
    }
  }
}

/// Chunk sizes: often one byte, sometimes the rest of the stream, mostly a few dozen bytes.
private func chunkLength(_ random: inout SplitMix64) -> Int {
  switch random.below(8) {
  case 0, 1: return 1
  case 2: return Int.max
  case 3: return WireLimits.headerSize
  default: return 1 + random.below(300)
  }
}

/// Descriptors with a chunk from a dishonest peer: mostly none, now and then a few, rarely
/// about a frame's limit (twice that overflows what may wait unclaimed).
private func chunkDescriptors(_ random: inout SplitMix64) -> Int {
  switch random.below(16) {
  case 0..<11: return 0
  case 11, 12: return 1
  case 13, 14: return 2 + random.below(6)
  default: return WireLimits.maxFDsPerFrame - 4 + random.below(8)
  }
}

/// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", 2014):
/// deterministic, so a fuzz input always decodes the same way.
struct SplitMix64 {
  private var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }

  /// A number in 0..<n (n > 0).
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
