// A small hand-written argument parser. swift-argument-parser brings FoundationEssentials
// into the binary and triples forkctl's start-up time, which every `forkctl spawn` pays.
//
// The grammar is getopt_long's. By default without permutation: options come first, then
// operands, and options end at the first word that is not an option or at `--`, which is
// consumed; spawn and run need that, since PROGRAM's own options follow it. A command whose
// operands are ids takes options anywhere before `--`, as GNU getopt permutes (`wait ID
// --print`): init(_:optionsAnywhere:) with true. A
// long option takes its value as `--name VALUE` or `--name=VALUE`, a short one as `-s VALUE`
// or `-sVALUE`; the word after an option that takes a value is its value even when it
// starts with `-`. Words stay bytes, so an operand that is not UTF-8 (a PROGRAM argument,
// a send-arg string) passes through byte for byte; only option names and values become
// Strings. Which options a command has, and which take a value, is its OptionTable
// (OptionTable.swift): one not in it is refused here, before the command's switch sees it.

/// Why parsing stopped before a command could run.
enum ArgumentError: Error {
  /// A usage error: `forkctl: MESSAGE`, then the command's usage line, on stderr.
  case usage(String)
  /// `-h` or `--help`: the command's help on stdout, exit 0.
  case help
  /// `--version`: the version on stdout, exit 0.
  case version
}

/// The words of a command line after the subcommand, taken from the front.
struct Arguments {
  private let words: ArraySlice<[UInt8]>
  private var next: Int
  /// Options may stand after operands, until `--`.
  private let optionsAnywhere: Bool
  /// Operands passed over to reach a later option, in order (optionsAnywhere only).
  private var passed: [[UInt8]] = []
  /// `--` has ended the options.
  private var optionsEnded = false
  /// The last option's name, the word it came from, and its `=VALUE` or attached short value.
  private var option = ""
  private var optionWord = ""
  private var attachedValue: [UInt8]?
  /// The command's options; pool sets its operation's once it has read it.
  var table: OptionTable

  init(_ words: ArraySlice<[UInt8]>, optionsAnywhere: Bool = false, table: OptionTable) {
    self.words = words
    self.optionsAnywhere = optionsAnywhere
    self.table = table
    next = words.startIndex
  }

  /// Whether `word` is an option (or `--`) rather than an operand; a lone `-` is an operand.
  static func isOption(_ word: [UInt8]) -> Bool { word.count > 1 && word[0] == UInt8(ascii: "-") }

  /// The next option's name (`--name`, `-s`), or nil at the end, after `--`, or (unless
  /// options may stand anywhere) at an operand, after which it may be called again once the
  /// command has taken the operand (run's `ID [OPTION...] PROGRAM`). `-h`, `--help` and
  /// `--version` end parsing. An option not in the table is a usage error, and so is an
  /// attached value (`--json=1`) given to one that takes none or that the command did not take
  /// with `value()`.
  mutating func nextOption() throws(ArgumentError) -> String? {
    try requireAttachedValueTaken()
    if optionsEnded { return nil }
    while optionsAnywhere && next < words.endIndex && !Self.isOption(words[next]) {
      passed.append(words[next])
      next += 1
    }
    guard next < words.endIndex, Self.isOption(words[next]) else { return nil }
    let word = words[next]
    next += 1
    if word == Self.separator {
      optionsEnded = true
      return nil
    }
    optionWord = String(decoding: word, as: UTF8.self)
    var name = word
    if word[1] == UInt8(ascii: "-") {
      if let equals = word.firstIndex(of: UInt8(ascii: "=")) {
        name = Array(word[..<equals])
        attachedValue = Array(word[(equals + 1)...])
      }
    } else if word.count > 2 {
      name = Array(word[..<2])
      attachedValue = Array(word[2...])
    }
    option = String(decoding: name, as: UTF8.self)
    switch option {
    case "-h", "--help":
      try requireAttachedValueTaken()
      throw .help
    case "--version":
      try requireAttachedValueTaken()
      throw .version
    default:
      guard let spec = table.spec(option) else {
        // `-9`, `-KILL`: the command reads the word whole.
        if table.dashWord != nil && word[1] != UInt8(ascii: "-") { return option }
        throw unknown(option)
      }
      if !spec.takesValue { try requireAttachedValueTaken() }
      return option
    }
  }

  /// The word of the option that `nextOption()` just returned, whole and without its leading
  /// `-`, as a value: `-KILL` (which parses as `-K` with the value `ILL`) is `KILL`, `-15`
  /// is `15`. For kill's `-SIGNAL`, as kill(1) takes it.
  mutating func optionWordAsValue() -> String {
    attachedValue = nil
    return String(optionWord.dropFirst())
  }

  /// The value of the option that `nextOption()` just returned, as bytes.
  mutating func rawValue() throws(ArgumentError) -> [UInt8] {
    if let value = attachedValue {
      attachedValue = nil
      return value
    }
    guard next < words.endIndex else { throw .usage("\(option) needs a value") }
    next += 1
    return words[next - 1]
  }

  /// The value of the option that `nextOption()` just returned.
  mutating func value() throws(ArgumentError) -> String {
    String(decoding: try rawValue(), as: UTF8.self)
  }

  /// The value of the option that `nextOption()` just returned, as an integer; a usage error
  /// `OPTION 'VALUE' is not WHAT` when it is not one or out of range for `T`.
  mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(ArgumentError) -> T {
    let text = try value()
    guard let n = T(text) else { throw .usage("\(option) '\(text)' is not \(what)") }
    return n
  }

  /// The next operand, or nil when every word has been taken.
  mutating func operand() throws(ArgumentError) -> String? {
    try requireAttachedValueTaken()
    if !passed.isEmpty { return String(decoding: passed.removeFirst(), as: UTF8.self) }
    guard next < words.endIndex else { return nil }
    next += 1
    return String(decoding: words[next - 1], as: UTF8.self)
  }

  /// The next operand; a usage error with `message` when there is none.
  mutating func operand(or message: String) throws(ArgumentError) -> String {
    guard let word = try operand() else { throw .usage(message) }
    return word
  }

  /// Every word not taken yet, as bytes; takes them all.
  mutating func remaining() throws(ArgumentError) -> ArraySlice<[UInt8]> {
    try requireAttachedValueTaken()
    defer {
      next = words.endIndex
      passed = []
    }
    return passed.isEmpty ? words[next...] : ArraySlice(passed + words[next...])
  }

  /// Whether `--` has ended the options (the words after it are all operands).
  var pastSeparator: Bool { optionsEnded }

  /// Skips a `--` that is the next word.
  mutating func skipSeparator() {
    if next < words.endIndex && words[next] == Self.separator { next += 1 }
  }

  /// A usage error unless every word has been taken.
  mutating func requireEnd() throws(ArgumentError) {
    try requireAttachedValueTaken()
    if let word = passed.first ?? (next < words.endIndex ? words[next] : nil) {
      throw .usage("unexpected argument '\(String(decoding: word, as: UTF8.self))'")
    }
  }

  /// The usage error for an option the command does not have.
  func unknown(_ option: String) -> ArgumentError {
    .usage("unknown option '\(option)'")
  }

  private mutating func requireAttachedValueTaken() throws(ArgumentError) {
    guard attachedValue != nil else { return }
    attachedValue = nil
    // `-hx` is no `-h` with a value but an option forkctl does not have.
    throw .usage(optionWord.hasPrefix("--") ? "\(option) takes no value" : "unknown option '\(optionWord)'")
  }

  static let separator: [UInt8] = Array("--".utf8)
}

/// Options that several subcommands take, parsed in one place (the `@OptionGroup` of
/// swift-argument-parser).
protocol OptionGroup {
  /// Takes `option`, and its value from `arguments`, if it is one of the group's; false if not.
  mutating func parse(_ option: String, _ arguments: inout Arguments) throws(ArgumentError) -> Bool
}

extension Arguments {
  /// The next option that `group` does not take, as `nextOption()` returns it; the options
  /// before it that `group` does take are parsed into it.
  mutating func nextOption<Group: OptionGroup>(besides group: inout Group) throws(ArgumentError) -> String? {
    while let option = try nextOption() {
      guard try group.parse(option, &self) else { return option }
    }
    return nil
  }

  /// Parses every option into `group`; one it does not take is a usage error.
  mutating func parseOptions<Group: OptionGroup>(into group: inout Group) throws(ArgumentError) {
    if let option = try nextOption(besides: &group) { throw unknown(option) }
  }
}
