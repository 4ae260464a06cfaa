// The table that Scripts/bench prints: groups of rows, the ratios between rows, and the
// targets of issues 4 and 12 each row is checked against.

/// A target that issue 4 or 12 sets for a ratio or a number.
struct Target {
  enum Comparison: String {
    case atLeast = ">="
    case atMost = "<="
    case below = "<"
  }
  let comparison: Comparison
  let bound: Double

  static func atLeast(_ bound: Double) -> Target { Target(comparison: .atLeast, bound: bound) }
  static func atMost(_ bound: Double) -> Target { Target(comparison: .atMost, bound: bound) }
  static func below(_ bound: Double) -> Target { Target(comparison: .below, bound: bound) }

  /// "target >= 1.5x: met", or by how much `value` misses it. `value` is the figure as
  /// printed, so that a row never reads "1.50x" and "missed" against ">= 1.5x".
  func verdict(_ value: Double, unit: String) -> String {
    let head = "target \(comparison.rawValue) \(Format.shortest(bound))\(unit): "
    switch comparison {
    case .atLeast where value >= bound, .atMost where value <= bound, .below where value < bound:
      return head + "met"
    case .atLeast:
      return head + "MISSED, \(Format.fixed((1 - value / bound) * 100, 0))% short"
    case .atMost, .below:
      return head + "MISSED, \(Format.fixed((value / bound - 1) * 100, 0))% over"
    }
  }
}

enum Row {
  /// A line of explanation under the group's title.
  case note(String)
  /// Timed loops; `extra` follows the range (the concurrency group's latencies).
  case measured(String, LoopSummary, extra: String? = nil)
  /// Median time per call of the row labelled `numerator` over that of `denominator`
  /// (> 1: the numerator is slower).
  case timeRatio(String, numerator: String, denominator: String, Target?)
  /// Calls/s of the row labelled `numerator` over those of `denominator` (> 1: the
  /// numerator is faster).
  case rateRatio(String, numerator: String, denominator: String, Target?)
  /// One number, printed as `text`.
  case value(String, Double, text: String, unit: String, Target?)

  /// A number measured once, printed as a whole number.
  static func value(_ label: String, _ number: Int, unit: String, _ target: Target? = nil) -> Row {
    .value(label, Double(number), text: "\(number)", unit: unit, target)
  }

  /// The label as printed, which sets the width of the label column.
  var printedLabel: String? {
    switch self {
    case .note: return nil
    case .measured(let label, _, _), .value(let label, _, _, _, _): return label
    case .timeRatio(let label, _, _, _): return "time ratio " + label
    case .rateRatio(let label, _, _, _): return "rate ratio " + label
    }
  }
}

struct Group {
  let title: String
  /// After the title, in parentheses: N and R, or what stands for them.
  let parenthesis: String
  var rows: [Row] = []

  init(_ title: String, _ parenthesis: String) {
    self.title = title
    self.parenthesis = parenthesis
  }

  mutating func note(_ text: String) { rows.append(.note(text)) }

  /// The median time per call of the measured row labelled `label`.
  func medianPerCall(of label: String) -> Double {
    for case .measured(label, let summary, _) in rows { return summary.medianPerCall }
    fail("group '\(title)' has no measured row '\(label)' for a ratio")
  }
}

struct Table {
  let groups: [Group]

  /// At least 34 columns, and 4 more than the longest label.
  var labelWidth: Int {
    groups.flatMap(\.rows).compactMap(\.printedLabel).map { $0.count + 4 }.reduce(34, max)
  }

  /// The table, from the column headings to the legend of the ratios.
  func render() -> String {
    let width = labelWidth
    var out =
      Format.padded("", width) + " " + Format.padded("median us/call", -14) + " "
      + Format.padded("calls/s", -10) + "  min..max us/call\n"
    func row(_ label: String, _ first: String, _ second: String = "", _ rest: String = "") {
      let line =
        "  " + Format.padded(label, width - 2) + " " + Format.padded(first, -14) + " "
        + Format.padded(second, -10) + "  " + rest
      out += Format.trimmingTrailingSpaces(line) + "\n"
    }
    for group in groups {
      out += "\n\(group.title) (\(group.parenthesis))\n"
      for r in group.rows {
        switch r {
        case .note(let text):
          out += "    \(text)\n"
        case .measured(let label, let s, let extra):
          row(
            label, Format.fixed(s.medianPerCall, 1), Format.fixed(s.callsPerSecond, 0),
            Format.fixed(s.fastestPerCall, 1) + ".." + Format.fixed(s.slowestPerCall, 1)
              + (extra.map { "  " + $0 } ?? ""))
        case .timeRatio(let label, let numerator, let denominator, let target):
          let ratio = group.medianPerCall(of: numerator) / group.medianPerCall(of: denominator)
          let text = Format.fixed(ratio, 2)
          let who = label.split(separator: " / ").first.map(String.init) ?? label
          let how = ratio >= 1 ? "\(text)x slower" : "\(Format.fixed(1 / ratio, 2))x faster"
          let verdict = target.map { "; " + $0.verdict(Double(text)!, unit: "x") } ?? ""
          row("time ratio " + label, text + "x", "", "\(who) is \(how)" + verdict)
        case .rateRatio(let label, let numerator, let denominator, let target):
          let ratio = group.medianPerCall(of: denominator) / group.medianPerCall(of: numerator)
          let text = Format.fixed(ratio, 2)
          row("rate ratio " + label, text + "x", "", target?.verdict(Double(text)!, unit: "x") ?? "")
        case .value(let label, let number, let text, let unit, let target):
          row(label, "\(text) \(unit)", "", target?.verdict(number, unit: " " + unit) ?? "")
        }
      }
    }
    out += "\ntime ratio A / B = median time per call of A / that of B (> 1: A is slower);\n"
    out += "rate ratio A / B = calls/s of A / those of B (> 1: A is faster).\n"
    return out
  }
}

/// Numbers and columns as text, without Foundation's String(format:).
enum Format {
  /// `x` rounded to `places` decimals (half away from zero).
  static func fixed(_ x: Double, _ places: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int64((abs(x) * scale).rounded())
    let sign = x < 0 && scaled != 0 ? "-" : ""
    let whole = scaled / Int64(scale)
    guard places > 0 else { return sign + "\(whole)" }
    let fraction = String(scaled % Int64(scale))
    return sign + "\(whole)." + String(repeating: "0", count: places - fraction.count) + fraction
  }

  /// `x` with no trailing zeros: 40, 1.5, 0.7.
  static func shortest(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? "\(Int64(x))" : "\(x)"
  }

  /// `text` padded with spaces to `width` columns: on the right, or on the left when
  /// `width` is negative (a right-aligned number).
  static func padded(_ text: String, _ width: Int) -> String {
    let fill = String(repeating: " ", count: max(0, abs(width) - text.count))
    return width < 0 ? fill + text : text + fill
  }

  static func trimmingTrailingSpaces(_ text: String) -> String {
    var s = Substring(text)
    while s.last == " " { s = s.dropLast() }
    return String(s)
  }
}
