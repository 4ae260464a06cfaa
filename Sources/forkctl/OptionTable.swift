// Each subcommand's options as a table. Arguments refuses an option that is not in its
// command's table and learns from it whether the option takes a value; `forkctl completions`
// writes each shell's script from the same tables (Completions.swift), so the two cannot
// drift apart (issue 15). What an option does stays in its command's `init(parsing:)`.
// Static arrays of plain values: nothing is built at start-up but what a command reads.

/// What an option's value is, so that a shell can complete it.
enum ValueKind: Equatable {
  /// A flag: no value.
  case none
  case path
  case directory
  /// A process object's id or name (`forkctl list`).
  case id
  /// A template's id or name (`forkctl list`): what --from takes.
  case template
  /// A pool's name (`forkctl pool status`).
  case pool
  /// A signal's name or number, as kill(1) takes it.
  case signal
  case user
  case group
  case number
  case seconds
  case descriptor
  /// A function's name in a loaded library.
  case symbol
  /// NAME=VALUE: an environment variable.
  case environment
  /// A command name, or a path to an executable.
  case command
  /// Any word: nothing to complete.
  case word
  /// One of these words.
  case choice([String])

  /// The words a shell offers for the value, when it is one of a fixed few.
  var words: [String] {
    switch self {
    case .choice(let words): return words
    default: return []
    }
  }
}

/// One option of a subcommand: its spellings, its value and whether it may be repeated.
struct OptionSpec {
  /// `--name`, or nil for an option that has only a short spelling.
  let long: String?
  /// `-s`, or nil.
  let short: String?
  let value: ValueKind
  let repeatable: Bool
  /// Taken but not offered: the auto-starting client's --ready-fd, run's --quick-exit (which
  /// run refuses by name: it is call's).
  let hidden: Bool

  init(
    _ long: String?, short: String? = nil, _ value: ValueKind = .none, repeatable: Bool = false, hidden: Bool = false
  ) {
    self.long = long
    self.short = short
    self.value = value
    self.repeatable = repeatable
    self.hidden = hidden
  }

  var takesValue: Bool { value != .none }

  /// Whether `option` (as Arguments splits it off a word: `--name`, `-s`) spells this one.
  func matches(_ option: String) -> Bool { option == long || option == short }

  /// Every spelling, the long one first.
  var spellings: [String] { [long, short].compactMap { $0 } }
}

/// A command's options, and what it makes of a word like `-9` that names none of them.
struct OptionTable {
  let options: [OptionSpec]
  /// kill's `-SIGNAL`, pool resize's `-N`: a single-dash word that is no option of the table
  /// is handed to the command, which reads it whole with `optionWordAsValue()`; nil: refused.
  let dashWord: ValueKind?

  init(_ options: [OptionSpec], dashWord: ValueKind? = nil) {
    self.options = options
    self.dashWord = dashWord
  }

  init(joining groups: [OptionSpec]...) { self.init(groups.flatMap { $0 }) }

  func spec(_ option: String) -> OptionSpec? { options.first { $0.matches(option) } }

  /// The options a shell offers, with the help options every command takes.
  var offered: [OptionSpec] { options.filter { !$0.hidden } + OptionSpec.help }
}

extension OptionSpec {
  /// -h and --help, which Arguments takes for every command.
  static let help = [OptionSpec("--help", short: "-h")]
  static let socket = OptionSpec("--socket", .path)
  static let name = OptionSpec("--name", .word)
  static let json = OptionSpec("--json")
}
