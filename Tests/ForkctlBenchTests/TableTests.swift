import Testing

@testable import forkctl_bench

// The statistics and the verdicts of the benchmark's table, which Scripts/bench used to
// compute with awk.

@Test func medianOfAnOddCountIsTheMiddleValue() {
  #expect(median([5, 1, 3]) == 3)
}

@Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
  #expect(median([4, 1, 3, 2]) == 2.5)
}

@Test func percentileIsTheNearestRank() {
  let values: [UInt64] = Array(1...100).reversed()
  #expect(percentile(values, 50) == 50)
  #expect(percentile(values, 99) == 99)
  #expect(percentile([7], 99) == 7)
  #expect(percentile([1, 2, 3], 50) == 2)
}

@Test func loopSummaryIsPerCall() {
  let s = LoopSummary(count: 10, microseconds: [3000, 1000, 2000])
  #expect(s.medianPerCall == 200)
  #expect(s.fastestPerCall == 100)
  #expect(s.slowestPerCall == 300)
  #expect(s.callsPerSecond == 5000)
}

@Test func targetVerdictsSayMetOrByHowMuchItWasMissed() {
  #expect(Target.atLeast(1.5).verdict(1.5, unit: "x") == "target >= 1.5x: met")
  #expect(Target.atLeast(2).verdict(1.5, unit: "x") == "target >= 2x: MISSED, 25% short")
  #expect(Target.atMost(3.5).verdict(7, unit: "x") == "target <= 3.5x: MISSED, 100% over")
  #expect(Target.below(5).verdict(5, unit: " ms") == "target < 5 ms: MISSED, 0% over")
  #expect(Target.below(16384).verdict(320, unit: " kB") == "target < 16384 kB: met")
}

@Test func fixedRoundsToTheGivenPlaces() {
  #expect(Format.fixed(0.805, 1) == "0.8")
  #expect(Format.fixed(12.5, 0) == "13")
  #expect(Format.fixed(0.04, 2) == "0.04")
  #expect(Format.fixed(-0.5, 1) == "-0.5")
  #expect(Format.fixed(1234.5678, 1) == "1234.6")
}

@Test func ratiosArePrintedFromTheMediansOfTheirRows() {
  var g = Group("g", "N=1, R=1")
  g.rows = [
    .measured("slow", LoopSummary(count: 1, microseconds: [300])),
    .measured("fast", LoopSummary(count: 1, microseconds: [100])),
    .timeRatio("slow / fast", numerator: "slow", denominator: "fast", .atMost(2.5)),
    .rateRatio("fast / slow", numerator: "fast", denominator: "slow", .atLeast(2)),
  ]
  let lines = Table(groups: [g]).render().split(separator: "\n").map { String($0) }
  // Between the figure and the verdict: the empty calls/s column (1 + 10 columns) and 2.
  let gap = String(repeating: " ", count: 13)
  #expect(
    lines.contains {
      $0.hasPrefix("  time ratio slow / fast ")
        && $0.hasSuffix(
          " 3.00x\(gap)slow is 3.00x slower; target <= 2.5x: MISSED, 20% over")
    })
  #expect(
    lines.contains {
      $0.hasPrefix("  rate ratio fast / slow ")
        && $0.hasSuffix(
          " 3.00x\(gap)target >= 2x: met")
    })
}

@Test func resultLinesAreReadBack() {
  let r = Results(
    "sample k 10 1000\nsample k 10 3000\nstat k p99_us 7\nstat k p99_us 9\nvalue anon_kb 160\n", from: "test")
  #expect(r.summary("k").medianPerCall == 200)
  #expect(r.medianStat("k", "p99_us") == 8)
  #expect(r.value("anon_kb") == 160)
}
