// forkctl-bench: Scripts/bench's measuring program. `table` runs every group and prints the
// table (statistics, ratios, targets); the other commands are the measuring processes it
// starts, for what a shell loop cannot measure (a big process, threads, the library's
// calls, memory). See Scripts/bench for the groups.
//
// Unlike the product, it imports Glibc where ForkctlSys has no wrapper (mmap, madvise,
// POSIX threads and barriers, clock_gettime, usleep): it is a measuring tool, not the
// product, and what it calls is what it measures against.
import ForkctlSys

let options = Options(CommandLine.arguments)
switch options.command {
case "table": Benchmark.run(options)
case "big": BigProcess.run(options)
case "floor": BigProcess.runFloor(options)
case "loop": Patterns.run(options)
case "concurrency": Concurrency.run(options)
case "footprint": Footprint.run(options)
case "sharing": Sharing.run(options)
case "http": HTTP.run(options)
case "-h", "--help": print(Options.usage)
default: fail("unknown command '\(options.command)'\n\(Options.usage)")
}
