import Glibc

extension Sys {
  /// A monotonic clock in milliseconds. The corresponding C function is `clock_gettime`.
  public static func monotonicMilliseconds() -> Int64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
  }
}

/// A moment of the UTC calendar, as gmtime_r(3) breaks a time down.
public struct UTCTime: Sendable, Equatable {
  public var year: Int
  /// 1 to 12.
  public var month: Int
  public var day: Int
  public var hour: Int
  public var minute: Int
  public var second: Int
  public var millisecond: Int

  /// ISO 8601 with milliseconds: `2026-11-28T15:40:01.123Z`.
  public var iso8601: String {
    func padded(_ n: Int, _ width: Int) -> String {
      let digits = String(n)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))T\(padded(hour, 2)):\(padded(minute, 2)):"
      + "\(padded(second, 2)).\(padded(millisecond, 3))Z"
  }
}

extension Sys {
  /// The wall clock (CLOCK_REALTIME) in milliseconds since the epoch: for time stamps, never
  /// for intervals, which it would get wrong when the clock is set. The corresponding C
  /// function is `clock_gettime`.
  public static func realtimeMilliseconds() -> Int64 {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
  }

  /// `milliseconds` since the epoch in the UTC calendar. gmtime_r, unlike localtime_r, reads
  /// no time zone file and no environment (gmtime(3)). The corresponding C function is `gmtime_r`.
  public static func utcTime(milliseconds: Int64) -> UTCTime {
    var seconds = time_t(milliseconds.quotientRoundingDown(1000))
    var parts = tm()
    gmtime_r(&seconds, &parts)
    return UTCTime(
      year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
      hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec),
      millisecond: Int(milliseconds - milliseconds.quotientRoundingDown(1000) * 1000))
  }
}

extension Int64 {
  /// Division rounding toward negative infinity, so that a time before the epoch still has
  /// milliseconds from 0 to 999.
  fileprivate func quotientRoundingDown(_ divisor: Int64) -> Int64 {
    let q = self / divisor
    return self % divisor < 0 ? q - 1 : q
  }
}
