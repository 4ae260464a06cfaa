// The libFuzzer entry of Scripts/fuzz: every input goes through checkCodec
// (Tests/ForkctlWireTests/CodecFuzzCheck.swift, compiled into this target with it), and a
// property that fails is a finding: trap, so that libFuzzer saves the input.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCodec(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let input = Array(UnsafeBufferPointer(start: data, count: size))
  do {
    try checkCodec(fuzzInput: input)
  } catch {
    fatalError("codec finding: \(error)")
  }
  return 0
}
