import Testing

@testable import forkctl

// Each command's option table against its parser and its help (issue 15): the completions
// are written from the tables, so a table entry the parser does not handle, or an option it
// handles that the table lacks, would be offered wrongly or refused.

/// Every command and operation, with the words that select it and its table.
private let commands: [(words: [String], command: any Subcommand.Type, table: OptionTable)] = {
  var all: [(words: [String], command: any Subcommand.Type, table: OptionTable)] = []
  for command in Forkctl.subcommands {
    let operations = command.operations
    if operations.isEmpty { all.append(([], command, command.optionTable)) }
    for operation in operations { all.append(([operation.name], command, operation.optionTable)) }
  }
  return all
}()

/// A value of `kind` that its option accepts or refuses for what it is, not as unknown.
private func sample(_ kind: ValueKind) -> String {
  switch kind {
  case .number, .seconds: return "1"
  case .descriptor: return "3"
  case .signal: return "TERM"
  case .user, .group: return "root"
  case .choice(let words): return words[0]
  default: return "x"
  }
}

/// What parsing `words` with `command`'s table ended in: nil for a command that parsed.
private func parse(_ command: any Subcommand.Type, _ words: [String]) -> ArgumentError? {
  func parsed<C: Subcommand>(_: C.Type) -> ArgumentError? {
    var arguments = Arguments(
      ArraySlice(words.map { Array($0.utf8) }), optionsAnywhere: C.optionsAnywhere, table: C.optionTable)
    do {
      _ = try C(parsing: &arguments)
      return nil
    } catch {
      return error
    }
  }
  return parsed(command)
}

@Test func everyTableEntryReachesItsCommandsSwitch() {
  var walked = 0
  for (words, command, table) in commands {
    for spec in table.options {
      for spelling in spec.spellings {
        // --help after it: the switch has taken the option (and its value) once help comes.
        let line = words + [spelling] + (spec.takesValue ? [sample(spec.value)] : []) + ["--help"]
        let outcome = parse(command, line)
        if case .usage(let message)? = outcome {
          #expect(
            !message.hasPrefix("unknown option") && !message.hasSuffix("takes no value"),
            "forkctl \(command.name) \(line.joined(separator: " ")): \(message)")
        }
        walked += 1
      }
    }
  }
  #expect(walked > 80)
}

@Test func anOptionNotInTheTableIsRefusedAsUnknown() {
  for (words, command, _) in commands {
    guard case .usage(let message)? = parse(command, words + ["--bogus", "x"]) else {
      Issue.record("forkctl \(command.name) \(words.joined()) --bogus was not refused")
      continue
    }
    #expect(message == "unknown option '--bogus'")
  }
}

@Test func aFlagGivenAValueIsRefusedFromTheTable() {
  guard case .usage(let message)? = parse(ListCommand.self, ["--memory=1"]) else {
    Issue.record("list --memory=1 was not refused")
    return
  }
  #expect(message == "--memory takes no value")
}

/// The option words at the start of each line of `help`'s Options blocks: `-s, --signal`.
private func listedOptions(_ help: String) -> Set<String> {
  var listed: Set<String> = []
  var inOptions = false
  for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
    if line.hasPrefix("Options") {
      inOptions = true
      continue
    }
    if line.isEmpty { inOptions = false }
    guard inOptions, line.hasPrefix("  -") else { continue }
    let head = line.drop { $0 == " " }.prefix { $0 != " " }
    listed.insert(String(head.hasSuffix(",") ? head.dropLast() : head))
    if head.hasSuffix(",") {
      let rest = line.drop { $0 == " " }.dropFirst(head.count + 1).prefix { $0 != " " }
      listed.insert(String(rest))
    }
  }
  return listed
}

@Test func everyHelpListsItsTableAndNoOtherOption() {
  for command in Forkctl.subcommands {
    var offered: Set<String> = []
    let operations = command.operations
    let tables = operations.isEmpty ? [command.optionTable] : operations.map(\.optionTable)
    for table in tables {
      for spec in table.offered {
        offered.formUnion(spec.spellings)
        for spelling in spec.spellings {
          #expect(command.help.contains(spelling), "forkctl help \(command.name) does not mention \(spelling)")
        }
      }
    }
    // kill's -SIGNAL is its dashWord, not a table entry.
    for option in listedOptions(command.help) where option != "-SIGNAL" {
      #expect(offered.contains(option), "forkctl help \(command.name) lists \(option), which it does not take")
    }
  }
}

@Test func poolTakesTheGlobalSocketBeforeItsAction() throws {
  // Forkctl.main hands `forkctl --socket PATH pool status` over as these words.
  var arguments = Arguments(
    ArraySlice(["--socket", "/run/x/sock", "status"].map { Array($0.utf8) }), table: PoolCommand.optionTable)
  let pool = try PoolCommand(parsing: &arguments)
  #expect(pool.client.socket == "/run/x/sock")
  guard case .status(name: nil, json: false) = pool.action else {
    Issue.record("pool --socket PATH status parsed as \(pool.action)")
    return
  }
}
