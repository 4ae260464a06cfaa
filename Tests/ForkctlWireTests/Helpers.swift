@testable import ForkctlWire

/// The octets of an ASCII/UTF-8 string.
func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Bytes that are not valid UTF-8 (a lone continuation byte, an overlong form, 0xff).
let notUTF8: [UInt8] = [0x80, 0xc0, 0xaf, 0xff, 0xfe, 0x41]

/// Sends a frame through the full byte path: encode, feed the decoder with its descriptors
/// attached to the first byte, decode. Fails when the decoder leaves anything behind.
func throughDecoder(_ frame: Frame) throws -> Frame {
  var decoder = FrameDecoder()
  decoder.append(frame.encoded(), fdCount: frame.fdCount)
  let decoded = try decoder.next()
  guard let decoded else { throw TestFailure("decoder produced no frame") }
  guard decoder.isAtFrameBoundary, decoder.unclaimedFDs == 0 else {
    throw TestFailure("decoder kept bytes or descriptors after the frame")
  }
  return decoded
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

/// A header built by hand: version, type, fd count (LE u16), payload length (LE u32).
func header(version: UInt8 = WireLimits.version, type: UInt8, fds: UInt16 = 0, length: UInt32) -> [UInt8] {
  [version, type, UInt8(fds & 0xff), UInt8(fds >> 8)]
    + [UInt8(length & 0xff), UInt8((length >> 8) & 0xff), UInt8((length >> 16) & 0xff), UInt8(length >> 24)]
}

/// A frame whose payload was written by hand with `PayloadWriter`.
func frame(_ type: MessageType, fds: Int = 0, _ write: (inout PayloadWriter) -> Void) -> Frame {
  var w = PayloadWriter()
  write(&w)
  return Frame(type: type, payload: w.bytes, fdCount: fds)
}
