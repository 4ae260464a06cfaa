import ForkctlClient
import ForkctlSys
import ForkctlWire

struct ListCommand: Subcommand {
  static let name = "list"
  static let optionTable = OptionTable([.socket, .json, OptionSpec("--memory")])
  static let optionsAnywhere = true
  static let summary = "List process objects with their state and status."
  static let usage = "forkctl list [--socket PATH] [--json] [--memory]"
  static let help = """
    List process objects: the default template, templates (which have not run a
    program) and workers (which have: running or exited).

    Options:
    \(ClientOptions.help)
      --json                Print a JSON array instead of a table.
      --memory              Add the memory of each process object you made, as
                            forkctl mem shows it (in KiB; in bytes with --json).
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var json = false
  /// --memory
  var memory = false

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--json": json = true
      case "--memory": memory = true
      default: throw arguments.unknown(option)
      }
    }
    try arguments.requireEnd()
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let list = try reporting { () throws(ForkctlError) in try c.list() }
    // Only the caller's own are measured: the others show none.
    let figures: [UInt64: MemoryEntry]? =
      memory
      ? try reporting { () throws(ForkctlError) in
        Dictionary(try c.memory().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      } : nil
    print(json ? Self.json(list, memory: figures) : Self.table(list, memory: figures), terminator: "")
  }

  /// The table's ROLE, in forkctl(1)'s words: a process object is a template until it is told
  /// to run a program and a worker from then on; the default template is neither.
  static func role(_ p: ProcessEntry) -> String {
    switch p.role {
    case .defaultTemplate, .pythonHost, .perlHost: return origin(p.role)
    case .template, .forked: return p.program.isEmpty ? "template" : "worker"
    }
  }

  /// The JSON "role": how the process object was made (exec, the daemon, or a fork by new,
  /// fork or spawn). forkctl(1) documents these values for scripts, so they stay as they are
  /// although the table says template or worker.
  static func origin(_ r: ProcessEntry.Role) -> String {
    switch r {
    case .template: return "template"
    case .defaultTemplate: return "default-template"
    case .forked: return "process"
    case .pythonHost: return "python-host"
    case .perlHost: return "perl-host"
    }
  }

  /// The state, with "stopped" for a running program that a signal has stopped (SIGSTOP,
  /// SIGTSTP, or traced). The daemon does not know that: it is read here from
  /// /proc/PID/stat, whose state is T or t then (proc(5)). The pid cannot name another
  /// process meanwhile: the daemon, its parent, has not reaped it while it is listed running.
  static func state(_ p: ProcessEntry) -> String {
    switch p.state {
    case .starting: return "starting"
    case .ready: return "ready"
    case .running: return isStopped(p.pid) ? "stopped" : "running"
    case .exited: return "exited"
    }
  }

  static func isStopped(_ pid: Int32) -> Bool {
    guard pid > 0, let fd = try? Sys.open("/proc/\(pid)/stat", .readOnly) else { return false }
    defer { fd.closeQuietly() }
    // "PID (COMM) S ...": COMM may hold spaces and parentheses, so the state follows the last ')'.
    guard let stat = try? fd.readAll(limit: 4096), let close = stat.lastIndex(of: UInt8(ascii: ")")),
      close + 2 < stat.count
    else { return false }
    return stat[close + 2] == UInt8(ascii: "T") || stat[close + 2] == UInt8(ascii: "t")
  }

  static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

  /// The table for a person: names and programs with their control characters escaped
  /// (Escaping.swift), so that none can move the cursor or forge a row.
  /// With `memory`, the columns of forkctl mem before PROGRAM.
  static func table(_ list: [ProcessEntry], memory: [UInt64: MemoryEntry]? = nil) -> String {
    let extra = memory == nil ? [] : MemCommand.headers
    var rows = [["ID", "NAME", "ROLE", "PID", "PARENT", "STATE", "STATUS", "FDS", "ARGS"] + extra + ["PROGRAM"]]
    for p in list {
      rows.append(
        [
          String(p.id), p.name.isEmpty ? "-" : displayed(p.name), role(p), p.pid == 0 ? "-" : String(p.pid),
          p.parent == 0 ? "-" : String(p.parent), state(p), p.status.map { String($0.shellStatus) } ?? "-",
          String(p.fdsSent), String(p.argumentsSent),
        ] + (memory.map { MemCommand.columns($0[p.id]) } ?? []) + [
          p.program.isEmpty ? "-" : displayed(p.program)
        ])
    }
    return aligned(rows)
  }

  /// `rows` as columns two spaces apart, the last one unpadded.
  static func aligned(_ rows: [[String]]) -> String {
    var widths = [Int](repeating: 0, count: rows[0].count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    var out = ""
    for r in rows {
      var line = ""
      for (i, c) in r.enumerated() {
        line += i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 2)
      }
      out += line + "\n"
    }
    return out
  }

  static func quote(_ b: [UInt8]) -> String { JSONText.quote(b) }

  /// With `memory`, a "memory" object per process object: mem --json's fields, or null.
  static func json(_ list: [ProcessEntry], memory: [UInt64: MemoryEntry]? = nil) -> String {
    let items = list.map { p -> String in
      var fields = [
        "\"id\":\(p.id)", "\"name\":\(p.name.isEmpty ? "null" : quote(p.name))",
        "\"role\":\"\(origin(p.role))\"",
        "\"pid\":\(p.pid == 0 ? "null" : String(p.pid))", "\"parent\":\(p.parent == 0 ? "null" : String(p.parent))",
        "\"state\":\"\(state(p))\"",
      ]
      fields += JSONText.statusFields(p.status)
      fields += [
        "\"fds\":\(p.fdsSent)", "\"args\":\(p.argumentsSent)",
        "\"program\":\(p.program.isEmpty ? "null" : quote(p.program))",
      ]
      if let memory {
        fields.append(
          "\"memory\":" + (memory[p.id].map { "{" + MemCommand.jsonFields($0).joined(separator: ",") + "}" } ?? "null"))
      }
      return "{" + fields.joined(separator: ",") + "}"
    }
    return "[" + items.joined(separator: ",") + "]\n"
  }
}
