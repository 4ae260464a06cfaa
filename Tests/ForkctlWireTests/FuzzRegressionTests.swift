import ForkctlWire
import Foundation
import Testing

// Scripts/fuzz's checks (CodecFuzzCheck.swift) over its committed seed corpus, and over
// inputs made by hand that reach each of its paths whatever the corpus holds. An input on
// which the fuzzer traps goes here as a test of its own, bytes inline, named for the
// behaviour it protects.

/// Fuzz/corpus, found from this file's place in the repository.
private let corpusDirectory = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("Fuzz/corpus").path

private func corpusFiles() -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: corpusDirectory)) ?? []).sorted()
}

private func corpusInput(_ name: String) throws -> [UInt8] {
  guard let data = FileManager.default.contents(atPath: corpusDirectory + "/" + name) else {
    throw CodecFinding("cannot read \(corpusDirectory)/\(name)")
  }
  return Array(data)
}

/// A fuzz input: control bytes, then the frames' bytes.
private func fuzzInput(_ flags: UInt8, seed: UInt8 = 0, _ frames: [Frame]) -> [UInt8] {
  [flags, seed] + frames.flatMap { $0.encoded() }
}

@Suite("Fuzz corpus and regressions")
struct FuzzRegressionTests {
  @Test("every seed of Fuzz/corpus decodes, and its messages survive encode and decode", arguments: corpusFiles())
  func seedRoundTrips(_ name: String) throws {
    try checkCodec(fuzzInput: try corpusInput(name))
  }

  @Test("the seed corpus reaches every message type")
  func corpusCoversEveryMessageType() throws {
    let files = corpusFiles()
    #expect(files.count >= MessageType.allCases.count, "\(corpusDirectory) holds \(files.count) files")
    var reached = Set<MessageType>()
    for name in files { reached.formUnion(try checkCodec(fuzzInput: try corpusInput(name))) }
    let missing = MessageType.allCases.filter { !reached.contains($0) }
    #expect(missing.isEmpty, "no seed decodes as \(missing); run Scripts/fuzz --seeds")
  }

  @Test("a stream repeated past 64 KiB, read in reader-sized chunks, agrees with the model")
  func repeatedStreamCompacts() throws {
    let frames = [
      Request.sendFDs(ref: Array("w".utf8), targets: [nil, 3]).frame(),
      Reply.ok.frame(),
      Command.fork(id: 1).frame(),
    ]
    let honestRepeated = CodecFuzzFlags.honestDescriptors | CodecFuzzFlags.repeatedStream
    for seed in UInt8(0)..<8 {
      try checkCodec(fuzzInput: fuzzInput(honestRepeated, seed: seed, frames))
      try checkCodec(fuzzInput: fuzzInput(honestRepeated | CodecFuzzFlags.readerSizedChunks, seed: seed, frames))
    }
  }

  @Test("descriptors attached at random, up to past the unclaimed limit, never break the decoder")
  func dishonestDescriptors() throws {
    let frames = (0..<40).map { Command.fds(targets: Array(repeating: nil, count: $0 % 5)).frame() }
    for seed in UInt8(0)..<32 {
      try checkCodec(fuzzInput: fuzzInput(seed << 3, seed: seed, frames))
    }
  }

  @Test("forget, prune, wait --all, run --detach and shutdown --wait agree with the model, whole and cut anywhere")
  func lifecycleRequests() throws {
    let frames = [
      Request.forget(refs: [Array("3".utf8), Array("job".utf8)]).frame(), Request.prune.frame(),
      Request.waitAll.frame(), Request.run(ref: Array("w".utf8), spec: RunSpec(program: [0x73]), detach: true).frame(),
      Request.drain.frame(), Reply.failure(.stillRunning, "sleep (pid 7) keeps running").frame(),
    ]
    for flags in [
      CodecFuzzFlags.honestDescriptors, CodecFuzzFlags.honestDescriptors | CodecFuzzFlags.readerSizedChunks,
    ] {
      let whole = fuzzInput(flags, seed: 11, frames)
      for end in 0...whole.count { try checkCodec(fuzzInput: Array(whole[..<end])) }
    }
  }

  @Test("a stream cut off anywhere agrees with the model")
  func truncatedStreams() throws {
    let whole = fuzzInput(
      CodecFuzzFlags.honestDescriptors, seed: 9,
      [
        Request.spawn(SpawnRequest(targets: [0, 1], spec: RunSpec(program: Array("sh".utf8)))).frame(),
        Reply.created(id: 2, pid: 3).frame(),
      ])
    for end in 0...whole.count { try checkCodec(fuzzInput: Array(whole[..<end])) }
  }
}
