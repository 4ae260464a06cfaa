// The statistics of the benchmark, all of them: medians over rounds, percentiles of
// latencies, and a loop's summary. Scripts/bench computes none.

/// The median of `values`: the middle one, or the mean of the middle two.
func median(_ values: [Double]) -> Double {
  precondition(!values.isEmpty, "the median of no values")
  let sorted = values.sorted()
  let half = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
}

/// The `p`th percentile (nearest rank) of `values`.
func percentile(_ values: [UInt64], _ p: Int) -> UInt64 {
  precondition(!values.isEmpty, "a percentile of no values")
  let sorted = values.sorted()
  let rank = max(1, (p * sorted.count + 99) / 100)
  return sorted[rank - 1]
}

/// R timed loops of `count` calls each, as a table row shows them.
struct LoopSummary {
  /// Microseconds per call of the median loop, of the fastest and of the slowest.
  let medianPerCall: Double
  let fastestPerCall: Double
  let slowestPerCall: Double

  /// `microseconds`: how long each loop took.
  init(count: Int, microseconds: [UInt64]) {
    precondition(count > 0 && !microseconds.isEmpty, "a summary of no loops")
    let perCall = microseconds.map { Double($0) / Double(count) }
    medianPerCall = median(perCall)
    fastestPerCall = perCall.min()!
    slowestPerCall = perCall.max()!
  }

  var callsPerSecond: Double { 1e6 / medianPerCall }
}
