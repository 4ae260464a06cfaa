// The scorer of Examples/c in Swift: @_cdecl functions with the shapes of
// include/forkctl.h. A Swift library brings the Swift runtime into the template.
//
//   swiftc -emit-library -parse-as-library -O -module-name Scorer -o libscorer.so Scorer.swift
#if canImport(Glibc)
  import Glibc
#endif

nonisolated(unsafe) private var model: [String] = []

private func arguments(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
  (0..<Int(argc)).map { String(cString: argv![$0]!) }
}

private func readText(_ path: String?) -> String? {
  let f = path.map { fopen($0, "r") } ?? stdin
  guard let f else { return nil }
  defer { if path != nil { fclose(f) } }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = fread(&buffer, 1, buffer.count, f)
    if n <= 0 { break }
    bytes += buffer[0..<n]
  }
  return String(decoding: bytes, as: UTF8.self)
}

private func score(_ text: String) -> Int {
  text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).filter { model.contains(String($0)) }.count
}

@_cdecl("forkctl_init")
public func forkctlInit(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  let args = arguments(argc, argv)
  guard args.count > 1, let text = readText(args[1]) else { return 66 }
  model = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
  return 0
}

@_cdecl("score")
public func scoreEntry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  let args = arguments(argc, argv)
  if args.count < 2 {
    print(score(readText(nil) ?? ""))
    return 0
  }
  var status: Int32 = 0
  for path in args.dropFirst() {
    guard let text = readText(path) else {
      perror(path)
      status = 1
      continue
    }
    print("\(path) \(score(text))")
  }
  return status
}
