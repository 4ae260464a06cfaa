// `forkctl completions SHELL` loaded into each shell, asked for completions as the shell asks
// when TAB is pressed (issue 15). Scripts/test installs bash-completion, zsh and fish.
import ForkctlSys
import Glibc
import Testing

/// Each shell's driver: loads the script ($1) and prints the completions of the line ($2),
/// one per line, as the shell would offer them for its last word.
private let drivers: [String: (path: String, driver: String)] = [
  "bash": (
    "/bin/bash",
    """
    [[ -r /usr/share/bash-completion/bash_completion ]] && source /usr/share/bash-completion/bash_completion
    source "$1"
    # bash breaks words at = too (COMP_WORDBREAKS): --tty=al is --tty, =, al.
    read -r -a COMP_WORDS <<< "${2//=/ = }"
    [[ $2 == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$2
    COMP_POINT=${#2}
    _forkctl
    printf '%s\\n' "${COMPREPLY[@]}"
    """
  ),
  // No terminal, so no zle: _forkctl runs as a completion function would, with words and
  // CURRENT set and compadd caught (the shell itself would filter by what was typed).
  "zsh": (
    "/usr/bin/zsh",
    """
    autoload -U compinit && compinit -u -D
    source "$1"
    compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }
    words=(${(z)2})
    [[ $2 == *' ' ]] && words+=('')
    CURRENT=${#words}
    _forkctl
    """
  ),
  // fish keeps the word after -c's command in $argv, where sh makes it $0.
  "fish": ("/usr/bin/fish", "source $argv[2]; complete -C $argv[3] | string replace -r '\\t.*' ''; true"),
]

/// A world whose PATH starts with a directory holding the forkctl under test, as an installed
/// one would stand in PATH; the scripts ask its `status` whether a daemon runs.
private func completionWorld() -> World {
  let world = World()
  let bin = world.dir + "/bin"
  mkdir(bin, 0o755)
  symlink(forkctlBinary, bin + "/forkctl")
  return world
}

/// The completions `shell` offers for `line` with the script `forkctl completions SHELL` printed.
private func completions(_ shell: String, _ line: String, in world: World) -> [String] {
  let script = "\(world.dir)/completion.\(shell)"
  if access(script, F_OK) != 0 { writeFile(script, world.ok(["completions", shell]) + "\n") }
  let (path, driver) = drivers[shell]!
  let out = "\(world.dir)/completions.out"
  let o = try! Sys.open(out, .writeOnly, options: [.create, .truncate])
  let environment = world.environment.filter { !$0.hasPrefix("PATH=") } + ["PATH=\(world.dir)/bin:/usr/bin:/bin"]
  let pid = try! Sys.posixSpawn(
    path: path, arguments: [shell, "-c", driver, shell, script, line], environment: environment, fds: [nil, o, nil])
  o.closeQuietly()
  let status = try! Sys.waitChild(pid)
  #expect(status.exitCode == 0, "\(shell) completing '\(line)' exited \(status)")
  return readFile(out).split(separator: "\n").map(String.init)
}

private let shells = ["bash", "zsh", "fish"]

@Suite struct CompletionTests {
  @Test(arguments: shells) func subcommandsOptionsAndValuesComeFromTheTables(shell: String) {
    let world = completionWorld()
    #expect(completions(shell, "forkctl sp", in: world).contains("spawn"))
    #expect(completions(shell, "forkctl he", in: world).contains("help"))
    #expect(completions(shell, "forkctl help po", in: world).contains("pool"))
    let list = completions(shell, "forkctl list --", in: world)
    #expect(list.contains("--json") && list.contains("--memory") && !list.contains("--tty"), "\(list)")
    #expect(completions(shell, "forkctl kill --signal K", in: world).contains("KILL"))
    let tty = completions(shell, "forkctl spawn --tty ", in: world)
    #expect(Set(tty).isSuperset(of: ["auto", "always", "never"]), "\(tty)")
    // --tty=al: bash completes the word after its =, zsh and fish the whole word.
    let joined = completions(shell, "forkctl spawn --tty=al", in: world)
    #expect(joined.contains(shell == "bash" ? "always" : "--tty=always"), "\(joined)")
    #expect(completions(shell, "forkctl pool re", in: world).contains("resize"))
    #expect(completions(shell, "forkctl pool stop --", in: world).contains("--graceful"))
    // zsh's _users and _normal need a line editor, which the harness has not.
    guard shell != "zsh" else { return }
    #expect(completions(shell, "forkctl daemon --allow-uid ro", in: world).contains("root"))
    // PROGRAM's own words are the shell's: an option of spawn is no longer offered there.
    let program = completions(shell, "forkctl spawn ech", in: world)
    #expect(program.contains("echo"), "\(program)")
    #expect(!completions(shell, "forkctl spawn true --", in: world).contains("--detach"))
  }

  @Test(arguments: shells) func aTabWithNoDaemonRunningStartsNone(shell: String) {
    let world = completionWorld()
    _ = completions(shell, "forkctl wait ", in: world)
    _ = completions(shell, "forkctl spawn --from ", in: world)
    #expect(access(world.socket, F_OK) != 0, "a completion started a daemon at \(world.socket)")
  }

  @Test("ids, names and pools come from the running daemon", arguments: shells)
  func liveIdsNamesAndPools(shell: String) {
    let world = completionWorld()
    let id = world.ok(["new", "--name", "webby"])
    defer { world.run(["shutdown"]) }
    world.ok(["pool", "create", "--ready", "spare", "--max", "1"])
    let offered = completions(shell, "forkctl wait ", in: world)
    #expect(offered.contains(id) && offered.contains("webby"), "\(offered)")
    #expect(completions(shell, "forkctl pool stop ", in: world).contains("spare"))
  }
}
