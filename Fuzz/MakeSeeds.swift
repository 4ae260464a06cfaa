// Writes the seed corpus of the codec fuzzer: valid frames of every message type, made by the
// codec itself, in the input layout of Tests/ForkctlWireTests/CodecFuzzCheck.swift (two
// control bytes, then the stream). Scripts/fuzz compiles it in one module with
// Sources/ForkctlWire/**/*.swift and runs it when the working corpus is missing; `Scripts/fuzz
// --seeds` rewrites Fuzz/corpus with it.
//
//   make-seeds DIRECTORY

import Glibc

/// Bit 0 of the first control byte: descriptors arrive the way an honest sender attaches
/// them (CodecFuzzFlags.honestDescriptors); bit 1: reader-sized chunks.
private let honestDescriptors: UInt8 = 1
private let readerSizedChunks: UInt8 = 2

private func b(_ s: String) -> [UInt8] { Array(s.utf8) }
private let notUTF8: [UInt8] = [0x80, 0xc0, 0xaf, 0xff, 0xfe, 0x41]

private let fullSpec = RunSpec(
  program: b("/usr/bin/env"), arguments: [b("-i"), notUTF8, [], b("a b")],
  environment: [b("PATH=/bin"), b("EMPTY="), b("=leading")],
  keepControl: true, hasWorkingDirectory: true, waitForExit: true)

private let attributes = ProcessAttributes(
  umask: 0o077, nice: 10, ignoredSignals: 1 << 0, blockedSignals: 1 << 9,
  limits: [.init(resource: 7, soft: 200, hard: 4096), .init(resource: 4, soft: .max, hard: .max)],
  flags: [.noNewPrivileges])

private let requests: [Request] = [
  .hello,
  .new(name: []),
  .new(name: b("worker-1")),
  .exec(name: b("tmpl")),
  .fork(ref: b("12"), name: b("child")),
  .sendFDs(ref: b("3"), targets: [nil]),
  .sendFDs(ref: b("w"), targets: [nil, 0, 5, WireLimits.maxTargetFD]),
  .sendArgs(ref: b("w"), arguments: [[], b("x"), notUTF8]),
  .run(ref: b("w"), spec: RunSpec(program: b("true"))),
  .run(ref: b("w"), spec: fullSpec),
  .wait(refs: [b("1"), b("name")]),
  .kill(signal: 9, refs: [b("1")]),
  .list,
  .shutdown,
  .spawn(SpawnRequest(targets: [], spec: RunSpec(program: b("true")))),
  .spawn(
    SpawnRequest(
      from: b("tpl"), name: b("job"), targets: [0, 1, 2, nil],
      spec: RunSpec(
        program: b("sh"), arguments: [b("-c"), b("exit 3")], environment: [b("A=b")],
        hasWorkingDirectory: true),
      detach: true, wantsPIDFD: true)),
  .spawn(SpawnRequest(targets: [0, 1, 2], spec: RunSpec(program: b("true")), attributes: attributes)),
  .run(ref: b("w"), spec: RunSpec(program: b("true"), waitForExit: true), attributes: attributes),
  .signal(15),
  .forget(refs: [b("3"), b("job")]),
  .prune,
  .waitAll,
  .drain,
  .run(ref: b("w"), spec: RunSpec(program: b("true")), detach: true),
  .load(ref: b("scorer"), LoadSpec(path: b("./libscorer.so"), arguments: [b("model.bin")])),
  .load(ref: b("7"), LoadSpec(path: b("libz.so.1"), initSymbol: b("my_init"), global: true)),
  .run(ref: b("w"), spec: RunSpec(program: b("score"), arguments: [b("in.txt")], entry: .call(quickExit: true))),
  .memory(refs: []),
  .memory(refs: [b("3"), b("scorer")]),
  .audit(ref: b("7")),
  .pool(
    .create(
      PoolSpec(
        name: b("web-pool"), from: b("web"),
        kind: .workers(
          PoolWorkers(
            spec: RunSpec(program: b("./handler"), environment: [b("PATH=/bin")]), maxRequests: 1000, jitter: 100,
            timeoutMilliseconds: 30_000)),
        sizes: PoolSizes(start: 4, minIdle: 2, maxIdle: 6, max: 32)))),
  .pool(.create(PoolSpec(name: b("fast"), from: b("default"), kind: .ready, sizes: PoolSizes(minIdle: 1, max: 4)))),
  .pool(.status(name: [])),
  .pool(.resize(name: b("web-pool"), PoolResize(max: 64, delta: -1))),
  .pool(.reload(name: b("web-pool"), from: b("web2"))),
  .pool(.stop(name: b("web-pool"), graceful: true)),
  .pool(.events(name: b("web-pool"))),
  .exec(
    name: b("py"),
    host: HostSpec(language: .python, interpreter: b("/usr/bin/python3"), environment: [b("PATH=/bin"), b("A=")])),
  .exec(name: [], host: HostSpec(language: .perl, interpreter: b("/usr/bin/perl"))),
  .eval(ref: b("py"), EvalSpec(code: b("import numpy"), arguments: [b("-v")])),
  .eval(ref: b("pl"), EvalSpec(code: b("print 1"), hasWorkingDirectory: true)),
  .status,
]

private let replies: [Reply] = [
  .ok,
  .created(id: 7, pid: 4321),
  .failure(.unknownProcess, "no process object named w"),
  .statuses([(id: 1, status: .exited(0)), (id: 2, status: .signaled(9, coreDumped: false))]),
  .statuses([(id: 3, status: .signaled(11, coreDumped: true))]),
  .listing([]),
  .listing([
    ProcessEntry(
      id: 1, name: b("default"), role: .defaultTemplate, parent: 0, pid: 100, state: .ready, status: nil,
      fdsSent: 0, argumentsSent: 0, program: []),
    ProcessEntry(
      id: 4, name: b("done"), role: .forked, parent: 1, pid: 400, state: .exited, status: .exited(3),
      fdsSent: 1, argumentsSent: 2, program: b("/bin/false")),
  ]),
  .welcome(version: WireLimits.version, daemonPID: 99),
  .loaded(ThreadCensus(names: [b("forkctl/object")])),
  .failure(.symbolNotFound, "cannot call nope in process 4: no library it loaded exports it (./libscorer.so)"),
  .memory([
    MemoryEntry(
      id: 3, parent: 0, pid: 300,
      reading: .measured(
        MemoryFigures(
          resident: 206_048 << 10, proportional: 50_931 << 10, sharedClean: 1028 << 10, sharedDirty: 184_408 << 10,
          privateClean: 72 << 10, privateDirty: 20_540 << 10, anonymous: 204_936 << 10))),
    MemoryEntry(id: 4, parent: 3, pid: 0, reading: .noProcess),
    MemoryEntry(id: 5, parent: 3, pid: 500, reading: .unreadable(errno: 13)),
  ]),
  .mappings([b("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"), b("/tmp/data (deleted)")]),
  .mappings([b("/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so")], modules: [b("json")]),
  .pools([
    PoolSummary(
      name: b("web-pool"), ready: false, template: 3, generation: 1, target: 4,
      sizes: PoolSizes(start: 4, minIdle: 2, maxIdle: 6, max: 32), requests: 1234, restarts: 2,
      workers: [PoolWorkerEntry(id: 7, pid: 700, state: .idle, requests: 10, generation: 1, status: b("ok"))],
      history: [PoolDeparture(id: 5, pid: 500, status: .signaled(15, coreDumped: false), reason: .retired)])
  ]),
  .poolEvent(b("{\"event\":\"size\",\"pool\":\"web-pool\",\"target\":5}")),
  .status(
    DaemonStatus(
      pid: 4242, version: b("0.1.0"), protocolVersion: 1, startedAt: 1_795_880_401_123, uptime: 90_061_005,
      log: b("/run/user/1000/forkctl/sock.log"), starting: 1, ready: 2, running: 3, exited: 4, templates: 2,
      pools: 1, connections: 5)),
]

private let commands: [Command] = [
  .fork(id: 8),
  .fds(targets: [nil, 4]),
  .arguments([b("a"), []]),
  .run(RunSpec(program: b("true")), statusPipe: false),
  .run(fullSpec, statusPipe: true),
  .spawn(id: 9, targets: [0, 1, 2], spec: RunSpec(program: b("env"), environment: [b("X=1")])),
  .spawn(id: 10, targets: [0], spec: RunSpec(program: b("true")), attributes: attributes),
  .run(RunSpec(program: b("true")), statusPipe: true, attributes: attributes),
  .load(LoadSpec(path: b("./libscorer.so"), arguments: [b("model.bin")])),
  .spawn(id: 11, targets: [0, 1, 2], spec: RunSpec(program: b("score"), entry: .call(quickExit: false))),
  .eval(EvalSpec(code: b("x = 1"), arguments: [b("a")])),
  .eval(EvalSpec(code: b("print 1"), hasWorkingDirectory: true)),
]

private let reports: [Report] = [
  .forked(pid: 555),
  .refused(.limitReached, message: b("too many process objects")),
  .execFailed(errno: 2),
  .spawned(pid: 556, errno: 0),
  .spawned(pid: 557, errno: ExecFailure(step: .limit(7), errno: 1).rawValue),
  .spawning(pid: 558),
  .loaded(ThreadCensus(names: [b("forkctl/object"), b("ticker")])),
  .loadRefused(.loadFailed, message: b("./libx.so: cannot open shared object file: No such file or directory")),
  .hostChild(pid: 559),
  .childEnded(pid: 559, status: .exited(3)),
  .childEnded(pid: 560, status: .signaled(9, coreDumped: false)),
  .hostReady,
]

private func name(_ type: MessageType) -> String { String(describing: type) }

private func fail(_ message: String, status: Int32 = 1) -> Never {
  let line = Array("make-seeds: \(message)\n".utf8)
  _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
  exit(status)
}

@main
struct MakeSeeds {
  static func main() {
    guard CommandLine.arguments.count == 2 else {
      fail("usage: make-seeds DIRECTORY", status: 64)
    }
    let directory = CommandLine.arguments[1]
    var seeds: [(name: String, bytes: [UInt8])] = []
    var counts: [String: Int] = [:]
    func add(_ frames: [Frame], _ label: String, flags: UInt8 = honestDescriptors, seed: UInt8 = 0) {
      counts[label, default: 0] += 1
      let stream = frames.flatMap { $0.encoded() }
      seeds.append((name: "\(label)-\(counts[label]!)", bytes: [flags, seed] + stream))
    }
    var n: UInt8 = 0
    for r in requests {
      n &+= 37
      add([r.frame()], "request-\(name(r.frame().type))", seed: n)
    }
    for r in replies {
      n &+= 37
      add([r.frame()], "reply-\(name(r.frame().type))", seed: n)
    }
    for c in commands {
      n &+= 37
      add([c.frame()], "command-\(name(c.frame().type))", seed: n)
    }
    for r in reports {
      n &+= 37
      add([r.frame()], "report-\(name(r.frame().type))", seed: n)
    }
    // A created reply with the spawned program's pidfd.
    add([Reply.created(id: 10, pid: 4322, withPIDFD: true).frame()], "reply-created-pidfd", seed: 5)
    // Whole conversations in one stream, read byte by byte or as a reader does.
    let client: [Frame] = [
      Request.hello.frame(), Reply.welcome(version: 1, daemonPID: 99).frame(),
      Request.new(name: []).frame(), Reply.created(id: 2, pid: 200).frame(),
      Request.sendFDs(ref: b("2"), targets: [nil, nil]).frame(), Reply.ok.frame(),
      Request.run(ref: b("2"), spec: RunSpec(program: b("true"), waitForExit: true)).frame(),
      Reply.statuses([(id: 2, status: .exited(0))]).frame(),
    ]
    add(client, "stream-client", seed: 1)
    add(client, "stream-client", flags: honestDescriptors | readerSizedChunks, seed: 2)
    let template: [Frame] = [
      Command.fork(id: 3).frame(), Report.forked(pid: 300).frame(), Command.fds(targets: [nil]).frame(),
      Command.run(RunSpec(program: b("ls"), hasWorkingDirectory: true), statusPipe: true).frame(),
      Report.execFailed(errno: 13).frame(),
    ]
    add(template, "stream-template", seed: 3)
    add(requests.map { $0.frame() }, "stream-requests", flags: honestDescriptors | readerSizedChunks, seed: 4)
    // Descriptors attached at random rather than where they belong.
    add(template, "stream-template-dishonest", flags: 0, seed: 6)
    // A language host's fork: its child's pidfd, the fork, the child's end.
    let host: [Frame] = [
      Command.fork(id: 4).frame(), Report.hostChild(pid: 400).frame(), Report.forked(pid: 400).frame(),
      Command.eval(EvalSpec(code: b("import json"))).frame(),
      Report.loaded(ThreadCensus(names: [b("python3")])).frame(),
      Report.childEnded(pid: 400, status: .exited(0)).frame(),
    ]
    add(host, "stream-host", seed: 9)
    add(host, "stream-host", flags: honestDescriptors | readerSizedChunks, seed: 10)
    // A pool's conversation: what the single seeds above leave out (a function worker pool with
    // NOTIFY_SOCKET, a resize of every size, a stop without --graceful, a ready pool's summary
    // and workers in every state).
    let pool: [Frame] = [
      Request.pool(
        .create(
          PoolSpec(
            name: b("jobs"), from: b("loaded"),
            kind: .workers(
              PoolWorkers(
                spec: RunSpec(program: b("serve"), environment: [], entry: .call(quickExit: true)), notifyFD: 1023,
                notifySocket: true)),
            sizes: PoolSizes(start: 0, minIdle: 0, maxIdle: 0, max: 0)))
      ).frame(),
      Reply.ok.frame(),
      Request.pool(.resize(name: b("jobs"), PoolResize(max: 8, minIdle: 1, maxIdle: 3, delta: 2))).frame(),
      Reply.ok.frame(),
      Request.pool(.status(name: [])).frame(),
      Reply.pools([
        PoolSummary(
          name: b("fast"), ready: true, template: 1, generation: 1, target: 4,
          sizes: PoolSizes(start: 1, minIdle: 1, maxIdle: UInt32.max, max: 4), requests: 0, restarts: 0,
          workers: [], history: []),
        PoolSummary(
          name: b("jobs"), ready: false, template: 2, generation: 2, target: 2,
          sizes: PoolSizes(start: 0, minIdle: 1, maxIdle: 3, max: 8), requests: 9, restarts: 1,
          workers: PoolWorkerEntry.State.allCases.map {
            PoolWorkerEntry(id: UInt64($0.rawValue), pid: 900, state: $0, requests: 1, generation: 2, status: [])
          },
          history: [PoolDeparture(id: 1, pid: 800, status: .signaled(9, coreDumped: true), reason: .timedOut)]),
      ]).frame(),
      Request.pool(.events(name: b("jobs"))).frame(),
      Reply.poolEvent(b("{\"event\":\"data\",\"pool\":\"jobs\",\"id\":3,\"line\":\"X=1\"}")).frame(),
      Reply.ok.frame(),
      Request.pool(.stop(name: b("jobs"), graceful: false)).frame(),
      Reply.pools([]).frame(),
    ]
    add(pool, "stream-pool", seed: 7)
    add(pool, "stream-pool", flags: honestDescriptors | readerSizedChunks, seed: 8)
    // The unframed protocols, which the check also reads every stream as.
    func addUnframed(_ bytes: [UInt8], _ label: String) {
      seeds.append((name: "\(label)-1", bytes: [honestDescriptors, 0] + bytes))
    }
    addUnframed(ExecFailureReport(errno: 2).encode(), "statuspipe-execFailure")
    addUnframed(Readiness.ready.encode(), "readiness-ready")
    addUnframed(Readiness.alreadyRunning(message: b("already running (pid 9)")).encode(), "readiness-running")
    addUnframed(Readiness.failed(message: b("cannot listen: Permission denied")).encode(), "readiness-failed")

    for seed in seeds {
      let path = "\(directory)/\(seed.name)"
      guard let file = fopen(path, "wb") else {
        fail("cannot create \(path): \(String(cString: strerror(errno)))")
      }
      guard fwrite(seed.bytes, 1, seed.bytes.count, file) == seed.bytes.count, fclose(file) == 0 else {
        fail("cannot write \(path)")
      }
    }
    print("make-seeds: wrote \(seeds.count) seeds to \(directory)")
  }
}
