// forkctl-bench: the measuring process of Scripts/bench, for what a shell loop cannot
// measure (a big process, threads, the library's calls, RSS). It prints result lines;
// Scripts/bench takes medians and prints the table. See Scripts/bench for the groups.
import ForkctlSys

let options = Options(CommandLine.arguments)
switch options.command {
case "big": BigProcess.run(options)
case "floor": BigProcess.runFloor(options)
case "loop": Patterns.run(options)
case "concurrency": Concurrency.run(options)
case "footprint": Footprint.run(options)
case "-h", "--help": print(Options.usage)
default: fail("unknown command '\(options.command)'\n\(Options.usage)")
}
