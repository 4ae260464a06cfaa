// `forkctl completions SHELL`: a completion script written from the option tables that the
// parser itself uses (OptionTable.swift), so that neither can offer or refuse what the other
// does not (issue 15). The script's logic is one POSIX sh program (`engine`), the same in
// every shell: given the words typed so far it says what the last one may be (a fixed list
// of words, files, commands, users ...), and each shell's few lines turn that into its own
// completions. It runs as `sh -c`, which costs a millisecond per TAB and keeps the three
// shells from drifting apart as well.

struct CompletionsCommand: Subcommand {
  static let name = "completions"
  static let summary = "Print a completion script for bash, zsh or fish."
  static let usage = "forkctl completions bash|zsh|fish"
  static let optionTable = OptionTable([])
  static let help = """
    Print a completion script for bash, zsh or fish, written from forkctl's own
    tables of subcommands and options. It completes subcommands, their options and
    what each option takes (files, signals, users, groups), pool's operations and
    help's subcommands, and hands PROGRAM and its arguments to the shell's own
    completion. Ids, template names and pool names come from the daemon with
    forkctl list --json and pool status --json, and only when forkctl status says
    that a daemon runs: a TAB never starts one.

      forkctl completions bash > ~/.local/share/bash-completion/completions/forkctl
      forkctl completions zsh > ~/.zfunc/_forkctl   (a directory in $fpath)
      forkctl completions fish > ~/.config/fish/completions/forkctl.fish

    Options:
      -h, --help            Show this help.

    """

  enum Shell: String { case bash, zsh, fish }

  let shell: Shell

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    // -h, --help; the table has no other option, so Arguments refuses any.
    _ = try arguments.nextOption()
    let word = try arguments.operand(or: "completions needs a shell: bash, zsh or fish")
    guard let shell = Shell(rawValue: word) else { throw .usage("unknown shell '\(word)': bash, zsh or fish") }
    try arguments.requireEnd()
    self.shell = shell
  }

  func run() throws(Exit) { print(Self.script(shell), terminator: "") }

  static func script(_ shell: Shell) -> String {
    switch shell {
    case .bash: return bash
    case .zsh: return zsh
    case .fish: return fish
    }
  }

  /// The operands of each command and operation, in order; the last repeats. `.command` is
  /// PROGRAM: the words from it on are PROGRAM's, for the shell to complete as its own.
  static func operands(_ command: String, _ operation: String) -> [ValueKind] {
    switch (command, operation) {
    case ("spawn", _), ("pool", "create"): return command == "spawn" ? [.command] : [.word, .command]
    case ("run", _): return [.id, .command]
    case ("load", _): return [.id, .path]
    case ("call", _), ("eval", _), ("send-fd", _), ("send-arg", _): return [.id, .word]
    case ("fork", _), ("audit", _), ("wait", _), ("kill", _), ("forget", _), ("mem", _): return [.id]
    case ("pool", "status"), ("pool", "resize"), ("pool", "reload"), ("pool", "stop"), ("pool", "events"):
      return [.pool, .word]
    case ("completions", _): return [.choice(["bash", "zsh", "fish"]), .word]
    default: return [.word]
    }
  }

  /// signal(7)'s names, as kill takes them without SIG.
  static let signals = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
    "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",
    "PWR", "SYS", "RTMIN", "RTMAX",
  ]

  /// A kind as the engine names it: `choice:a,b,c` for a fixed few words.
  static func word(_ kind: ValueKind) -> String {
    switch kind {
    case .none: return ""
    case .choice(let words): return "choice:" + words.joined(separator: ",")
    default: return "\(kind)"
    }
  }

  /// Every command and operation with its table, as the engine's keys `COMMAND OPERATION`.
  static var tables: [(key: String, table: OptionTable)] {
    var all: [(String, OptionTable)] = [(" ", Forkctl.optionTable)]
    for command in Forkctl.subcommands {
      all.append(("\(command.name) ", command.optionTable))
      for operation in command.operations { all.append(("\(command.name) \(operation.name)", operation.optionTable)) }
    }
    return all
  }

  /// The engine's tables as sh functions: the options of each command, the kind of value each
  /// option takes, and the kind of each operand.
  static var engineTables: String {
    var options = ""
    var kinds = ""
    var operandKinds = ""
    for (key, table) in tables {
      let words = table.offered.flatMap(\.spellings) + (key == " " ? ["--version"] : [])
      options += "  \"\(key)\") echo \"\(words.joined(separator: " "))\" ;;\n"
      for spec in table.options where spec.takesValue {
        let patterns = spec.spellings.map { "\"\(key)|\($0)\"" }.joined(separator: "|")
        kinds += "  \(patterns)) echo \"\(word(spec.value))\" ;;\n"
      }
      let parts = key.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
      guard key != " " else { continue }
      let list = operands(parts[0], parts[1])
      for (i, kind) in list.enumerated() {
        operandKinds += "  \"\(key)|\(i == list.count - 1 ? "\"*" : "\(i)\"")) echo \"\(word(kind))\" ;;\n"
      }
    }
    // Plain loops: key paths and closures over `any Subcommand.Type` crash Swift 6.3's SILGen.
    var names: [String] = []
    var withOperations = ""
    var operationWords = ""
    for command in Forkctl.subcommands {
      names.append(command.name)
      let operations = command.operations
      guard !operations.isEmpty else { continue }
      var words: [String] = []
      for operation in operations { words.append(operation.name) }
      withOperations += "  \(command.name)) return 0 ;;\n"
      operationWords += "  \(command.name)) echo \"choice:\(words.joined(separator: ","))\" ;;\n"
    }
    return """
      _forkctl_options() {
        case $1 in
      \(options)  esac
      }
      _forkctl_option_kind() {
        case "$1|$2" in
      \(kinds)  esac
      }
      _forkctl_operand_kind() {
        case "$1|$2" in
        " |"*) echo "choice:\((names + ["help"]).joined(separator: ","))" ;;
        "help |0") echo "choice:\(names.joined(separator: ","))" ;;
      \(operandKinds)  esac
      }
      _forkctl_has_operations() {
        case "$1" in
      \(withOperations)  esac
        return 1
      }
      _forkctl_operations() {
        case "$1" in
      \(operationWords)  esac
      }
      signals="\(signals.joined(separator: " "))"

      """
  }

  /// The POSIX sh program every script runs: `sh -c ENGINE forkctl FORKCTL WORD...`, the words
  /// after forkctl's own word, the last the one being completed (empty for a new word). It
  /// prints a kind on its first line (words, files, directories, commands, users, groups,
  /// none, or `program N`: complete from word N, PROGRAM, as a command line of its own), and
  /// after `words` the candidates, one per line, which the shell filters by what was typed.
  static var engine: String {
    engineTables + """
      # Ids and names from the daemon, only if `forkctl status` says one runs: list and pool
      # status would start one (forkctl(1), the daemon), and a TAB must not.
      live() {
        if [ -n "$socket" ]; then set -- "$forkctl" --socket "$socket"; else set -- "$forkctl"; fi
        "$@" status >/dev/null 2>&1 || return 0
        case $kind in
        pool) "$@" pool status --json 2>/dev/null | sed 's/},{"name"/}\\n{"name"/g' |
          sed -n 's/^.*"name":"\\([^"\\\\]*\\)".*$/\\1/p' ;;
        *) "$@" list --json 2>/dev/null | sed 's/},{/}\\n{/g' | {
          if [ "$kind" = template ]; then grep '"program":null'; else cat; fi
        } | sed -n 'h; s/^.*"id":\\([0-9]*\\).*$/\\1/p; g; s/^.*"name":"\\([^"\\\\]*\\)".*$/\\1/p' ;;
        esac
      }
      complete_kind() {
        kind=$1
        case $kind in
        path) echo files ;;
        directory) echo directories ;;
        command) echo commands ;;
        user) echo users ;;
        group) echo groups ;;
        signal) echo words; printf '%s\\n' $signals ;;
        id|template|pool) echo words; live ;;
        choice:*) echo words; echo "${kind#choice:}" | tr , '\\n' ;;
        *) echo none ;;
        esac
      }
      forkctl=$1
      shift
      socket= command= operation= pending= ended= operand=0 index=0
      while [ $# -gt 1 ]; do
        word=$1
        shift
        index=$((index + 1))
        if [ -n "$pending" ] && [ "$word" = = ]; then
          # bash splits --tty=auto at the =: the value is the word after it.
          continue
        elif [ -n "$pending" ]; then
          [ "$pending" = --socket ] && socket=$word
          pending=
        elif [ -z "$command" ]; then
          case $word in
          --socket) pending=--socket ;;
          --socket=*) socket=${word#*=} ;;
          -?*) ;;
          *) command=$word ;;
          esac
        elif [ -z "$operation" ] && _forkctl_has_operations "$command" && [ "$word" = "${word#-}" ]; then
          operation=$word
        elif [ -z "$ended" ] && [ "$word" = -- ]; then
          ended=1
        elif [ -z "$ended" ] && [ "$word" != "${word#-?}" ]; then
          case $word in
          --*=*) [ "${word%%=*}" = --socket ] && socket=${word#*=} ;;
          *) [ -n "$(_forkctl_option_kind "$command $operation" "$word")" ] && pending=$word ;;
          esac
        else
          if [ "$(_forkctl_operand_kind "$command $operation" "$operand")" = command ]; then
            echo "program $index"
            exit 0
          fi
          operand=$((operand + 1))
        fi
      done
      current=$1
      case $current in --?*=*) name=${current%%=*} ;; *) name= ;; esac
      if [ -n "$pending" ]; then
        complete_kind "$(_forkctl_option_kind "$command $operation" "$pending")"
      elif [ -z "$ended" ] && [ -n "$name" ] && [ -n "$(_forkctl_option_kind "$command $operation" "$name")" ]; then
        # zsh and fish keep --tty=al one word: the value's words come with the option before them.
        complete_kind "$(_forkctl_option_kind "$command $operation" "$name")" | sed "2,\\$s|^|$name=|"
      elif [ -n "$command" ] && [ -z "$operation" ] && [ "$current" = "${current#-}" ] &&
        _forkctl_has_operations "$command"; then
        complete_kind "$(_forkctl_operations "$command")"
      elif [ -z "$ended" ] && [ "$current" != "${current#-}" ]; then
        echo words
        _forkctl_options "$command $operation" | tr ' ' '\\n'
      else
        kind=$(_forkctl_operand_kind "$command $operation" "$operand")
        if [ "$kind" = command ]; then echo "program $((index + 1))"; else complete_kind "$kind"; fi
      fi

      """
  }

  /// `text` in single quotes for sh, bash and zsh.
  static func singleQuoted(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
  }

  static let header = """
    # forkctl(1) completion, written by `forkctl completions` from forkctl's own option tables:
    # regenerate it after upgrading forkctl.

    """

  static var bash: String {
    header + """
      _forkctl_engine=\(singleQuoted(engine))
      _forkctl() {
        local IFS=$'\\n' cur=${COMP_WORDS[COMP_CWORD]} word
        # The cursor just after --tty=, which bash made a word of its own: the value is empty.
        [[ $cur == = ]] && cur=
        local -a out
        out=($(command sh -c "$_forkctl_engine" forkctl "${COMP_WORDS[@]:0:COMP_CWORD+1}"))
        COMPREPLY=()
        case ${out[0]} in
        words)
          for word in "${out[@]:1}"; do [[ $word == "$cur"* ]] && COMPREPLY+=("$word"); done ;;
        files) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null ;;
        directories) COMPREPLY=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null ;;
        commands) COMPREPLY=($(compgen -c -- "$cur")) ;;
        users) COMPREPLY=($(compgen -u -- "$cur")) ;;
        groups) COMPREPLY=($(compgen -g -- "$cur")) ;;
        program\\ *)
          # PROGRAM and its arguments, as bash-completion completes a command line of its own.
          if declare -F _command_offset >/dev/null; then
            _command_offset "${out[0]#program }"
          else
            COMPREPLY=($(compgen -f -- "$cur"))
          fi ;;
        esac
      }
      complete -F _forkctl forkctl

      """
  }

  static var zsh: String {
    "#compdef forkctl\n" + header + """
      _forkctl_engine=\(singleQuoted(engine))
      _forkctl() {
        local -a out
        out=("${(@f)$(command sh -c "$_forkctl_engine" forkctl "${(@)words[1,CURRENT]}")}")
        case $out[1] in
        words) compadd -- "${(@)out[2,-1]}" ;;
        files) _files ;;
        directories) _files -/ ;;
        commands) _command_names -e ;;
        users) _users ;;
        groups) _groups ;;
        program\\ *)
          # PROGRAM and its arguments, as a command line of its own.
          local n=${out[1]#program }
          shift $n words
          (( CURRENT -= n ))
          _normal ;;
        esac
      }
      if [ "$funcstack[1]" = _forkctl ]; then _forkctl "$@"; else compdef _forkctl forkctl; fi

      """
  }

  /// `text` in single quotes for fish, where a backslash escapes a quote and a backslash.
  static func fishQuoted(_ text: String) -> String {
    var out = "'"
    for c in text {
      if c == "'" || c == "\\" { out.append("\\") }
      out.append(c)
    }
    return out + "'"
  }

  static var fish: String {
    header + """
      set -g __forkctl_engine \(fishQuoted(engine))
      function __forkctl_complete
          set -l words (commandline -opc) (commandline -ct)
          set -l out (command sh -c $__forkctl_engine forkctl $words)
          switch "$out[1]"
              case words
                  printf '%s\\n' $out[2..-1]
              case files
                  __fish_complete_path (commandline -ct)
              case directories
                  __fish_complete_directories (commandline -ct)
              case commands
                  complete -C (commandline -ct)
              case users
                  __fish_complete_users
              case groups
                  __fish_complete_groups
              case 'program *'
                  # PROGRAM and its arguments, as a command line of its own.
                  set -l n (string replace 'program ' '' -- $out[1])
                  complete -C (string join ' ' -- (string escape -- $words[(math $n + 1)..-1]))
          end
      end
      complete -c forkctl -f -a '(__forkctl_complete)'

      """
  }
}
