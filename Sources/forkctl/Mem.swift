import ForkctlClient
import ForkctlSys
import ForkctlWire

struct MemCommand: Subcommand {
  static let name = "mem"
  static let optionTable = OptionTable([.socket, .json])
  static let optionsAnywhere = true
  static let summary = "Show the memory of process objects: resident, shared, private."
  static let usage = "forkctl mem [--socket PATH] [--json] [ID...]"
  static let help = """
    Show the memory of process objects as the kernel counts it now
    (/proc/PID/smaps_rollup, read by the daemon): RSS (resident), PSS (each page
    divided among the processes that map it), SHARED (pages another process maps
    too), PRIVATE (pages only it maps), and for one forked from another INHERITED
    (Shared_Dirty: memory written before the fork that it still shares with its
    template or siblings, not yet copied on write). Sizes in KiB; --json gives bytes.

    Arguments:
      ID...                 Ids or names; none: every process object you made.

    Options:
    \(ClientOptions.help)
      --json                Print a JSON array instead of a table.
      -h, --help            Show this help.

    """

  var client = ClientOptions()
  var json = false
  var ids: [String] = []

  init(parsing arguments: inout Arguments) throws(ArgumentError) {
    while let option = try arguments.nextOption(besides: &client) {
      switch option {
      case "--json": json = true
      default: throw arguments.unknown(option)
      }
    }
    while let id = try arguments.operand() { ids.append(id) }
  }

  func run() throws(Exit) {
    var c = try client.connect()
    let entries = try reporting { () throws(ForkctlError) in try c.memory(ids) }
    if json {
      print(
        "["
          + entries.map { "{" + (["\"id\":\($0.id)"] + Self.jsonFields($0)).joined(separator: ",") + "}" }
          .joined(separator: ",") + "]")
      return
    }
    var rows = [["ID", "PID", "PARENT"] + Self.headers]
    for e in entries {
      rows.append(
        [String(e.id), e.pid == 0 ? "-" : String(e.pid), e.parent == 0 ? "-" : String(e.parent)] + Self.columns(e))
      if case .unreadable(let errno) = e.reading {
        Sys.printError("forkctl: cannot read the memory of process \(e.id): \(Sys.describe(Errno(rawValue: errno)))")
      }
    }
    print(ListCommand.aligned(rows), terminator: "")
  }

  static let headers = ["RSS", "PSS", "SHARED", "PRIVATE", "INHERITED"]

  /// The figures of `e` in KiB, as the table shows them; "-" where there are none.
  static func columns(_ e: MemoryEntry?) -> [String] {
    guard case .measured(let m)? = e?.reading else { return headers.map { _ in "-" } }
    let inherited = e?.parent == 0 ? "-" : String(m.sharedDirty / 1024)
    return [m.resident, m.proportional, m.shared, m.unshared].map { String($0 / 1024) } + [inherited]
  }

  /// The JSON fields of `e`, in bytes: null where there is no figure, with "error" saying why.
  static func jsonFields(_ e: MemoryEntry) -> [String] {
    var fields = [
      "\"pid\":\(e.pid == 0 ? "null" : String(e.pid))", "\"parent\":\(e.parent == 0 ? "null" : String(e.parent))",
    ]
    let names = [
      "rss", "pss", "shared", "private", "inherited", "shared_clean", "shared_dirty", "private_clean",
      "private_dirty", "anonymous", "swap",
    ]
    switch e.reading {
    case .measured(let m):
      let values: [UInt64?] = [
        m.resident, m.proportional, m.shared, m.unshared, e.parent == 0 ? nil : m.sharedDirty, m.sharedClean,
        m.sharedDirty, m.privateClean, m.privateDirty, m.anonymous, m.swap,
      ]
      fields += zip(names, values).map { "\"\($0)\":\($1.map { String($0) } ?? "null")" }
      fields.append("\"error\":null")
    case .noProcess:
      fields += names.map { "\"\($0)\":null" } + ["\"error\":\"no process\""]
    case .unreadable(let errno):
      fields += names.map { "\"\($0)\":null" }
      fields.append("\"error\":" + ListCommand.quote(Array(Sys.describe(Errno(rawValue: errno)).utf8)))
    }
    return fields
  }
}
