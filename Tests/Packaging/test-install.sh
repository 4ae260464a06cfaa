#!/usr/bin/env bash
# Tests Scripts/install, Scripts/uninstall and Scripts/deb against the release binaries
# (built once by Scripts/forkctl, which Scripts/bench reuses): every file where it belongs,
# PREFIX in the units, a reinstall that changes nothing, an uninstall that removes exactly
# what was installed, the .deb's contents, and, as root with dpkg, the .deb installed
# system-wide and removed. Quiet but for a line per test; exits 1 when any check failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d /tmp/forkctl-install-test.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
failed=0
check() {
  local what="$1"
  shift
  if ! "$@"; then
    echo "FAIL: $what" >&2
    failed=1
  fi
}
testing() { echo "== test-install: $1"; }

"$root/Scripts/forkctl" --version >/dev/null
release="$root/.build/release"

# What an install under /usr/local must hold, relative to it: the fixed files, every unit
# of Packaging/systemd (template units and those in system/ are system units), and the
# completions when forkctl has the subcommand that writes them.
expected_files() {
  printf '%s\n' bin/forkctl libexec/forkctl/forkctl-template share/man/man1/forkctl.1 \
    share/man/man7/forkctl-protocol.7 include/forkctl.h share/forkctl/install-manifest
  local unit
  for unit in "$root"/Packaging/systemd/* "$root"/Packaging/systemd/user/* "$root"/Packaging/systemd/system/*; do
    [ -f "$unit" ] || continue
    case "$unit" in
      */systemd/user/*) echo "lib/systemd/user/${unit##*/}" ;;
      */systemd/system/* | *@.*) echo "lib/systemd/system/${unit##*/}" ;;
      *) echo "lib/systemd/user/${unit##*/}" ;;
    esac
  done
  if "$release/forkctl" help completions >/dev/null 2>&1; then
    printf '%s\n' share/bash-completion/completions/forkctl share/zsh/site-functions/_forkctl \
      share/fish/vendor_completions.d/forkctl.fish
  fi
}
expected_files | sort >"$tmp/expected"

# The pid of process object $3 of the daemon at $2, from `$1 list --json`.
pid_of() {
  "$1" --socket "$2" list --json | tr '{' '\n' | sed -n "s/.*\"id\":$3,.*\"pid\":\([0-9]*\).*/\1/p"
}
files_under() { (cd "$1" && find . -type f -o -type l | sed 's|^\./||' | sort); }
manifest_files() { sed -n 's/^f //p' "$1" | sort; }
same() { diff -u "$1" "$2" >&2; }

testing "install with DESTDIR puts every file under DESTDIR/PREFIX and names PREFIX in the units"
stage="$tmp/stage"
DESTDIR="$stage" PREFIX=/usr/local "$root/Scripts/install" >/dev/null
top="$stage/usr/local"
files_under "$top" >"$tmp/installed"
check "the installed files are exactly the expected ones" same "$tmp/expected" "$tmp/installed"
manifest_files "$top/share/forkctl/install-manifest" >"$tmp/listed"
check "the manifest lists exactly the installed files" same "$tmp/installed" "$tmp/listed"
check "bin/forkctl is the release binary" cmp -s "$release/forkctl" "$top/bin/forkctl"
check "the template image is the release one" cmp -s "$release/forkctl-template" \
  "$top/libexec/forkctl/forkctl-template"
check "bin/forkctl is executable" test -x "$top/bin/forkctl"
check "the template image is executable" test -x "$top/libexec/forkctl/forkctl-template"
check "the manual page is Man/forkctl.1" cmp -s "$root/Man/forkctl.1" "$top/share/man/man1/forkctl.1"
check "the header is include/forkctl.h" cmp -s "$root/include/forkctl.h" "$top/include/forkctl.h"
for unit in "$top"/lib/systemd/*/*; do
  [ -f "$unit" ] || continue
  check "${unit##*/} has no @BINDIR@ left" bash -c '! grep -q @BINDIR@ "$1"' - "$unit"
  # What a unit starts is the installed forkctl, named by PREFIX, not DESTDIR.
  while IFS= read -r command; do
    check "${unit##*/}: '$command' runs /usr/local/bin/forkctl" \
      bash -c '[[ "$1" == /usr/local/bin/forkctl || "$1" == "/usr/local/bin/forkctl "* ]]' - "$command"
  done < <(sed -n 's/^ExecStart=[-@:+!]*//p' "$unit")
done
for completion in share/bash-completion/completions/forkctl share/zsh/site-functions/_forkctl \
  share/fish/vendor_completions.d/forkctl.fish; do
  if [ -e "$top/$completion" ]; then check "$completion is not empty" test -s "$top/$completion"; fi
done

testing "installing again changes neither the files nor the manifest"
cp "$top/share/forkctl/install-manifest" "$tmp/manifest.first"
DESTDIR="$stage" PREFIX=/usr/local "$root/Scripts/install" >/dev/null
files_under "$top" >"$tmp/installed.again"
check "the same files" same "$tmp/installed" "$tmp/installed.again"
check "the same manifest" same "$tmp/manifest.first" "$top/share/forkctl/install-manifest"

testing "uninstall removes every file and directory it installed and nothing else"
DESTDIR="$stage" PREFIX=/usr/local "$root/Scripts/uninstall" >/dev/null
check "nothing is left under PREFIX" test -z "$(ls -A "$top")"

testing "uninstall keeps a directory and a file that were there before the install"
kept="$tmp/kept"
mkdir -p "$kept/usr/local/bin" "$kept/usr/local/share/man/man1" "$kept/usr/local/include"
echo other >"$kept/usr/local/share/man/man1/other.1"
(cd "$kept" && find . | sort) >"$tmp/before"
DESTDIR="$kept" PREFIX=/usr/local "$root/Scripts/install" >/dev/null
DESTDIR="$kept" PREFIX=/usr/local "$root/Scripts/uninstall" >/dev/null 2>"$tmp/uninstall.err"
(cd "$kept" && find . | sort) >"$tmp/after"
check "the tree is as it was before the install" same "$tmp/before" "$tmp/after"

testing "uninstall without a manifest, or with a path out of PREFIX in it, refuses and removes nothing"
if DESTDIR="$kept" PREFIX=/usr/local "$root/Scripts/uninstall" >/dev/null 2>"$tmp/refusal"; then
  check "uninstall without a manifest fails" false
fi
check "the refusal names the missing manifest" \
  grep -q "no install manifest at $kept/usr/local/share/forkctl/install-manifest" "$tmp/refusal"
DESTDIR="$kept" PREFIX=/usr/local "$root/Scripts/install" >/dev/null
echo "f ../../../etc/other" >>"$kept/usr/local/share/forkctl/install-manifest"
if DESTDIR="$kept" PREFIX=/usr/local "$root/Scripts/uninstall" >/dev/null 2>"$tmp/refusal"; then
  check "uninstall with a path out of PREFIX fails" false
fi
check "the refusal names the bad line" grep -q "bad line .*'f ../../../etc/other'" "$tmp/refusal"
check "nothing was removed" test -x "$kept/usr/local/bin/forkctl"

testing "an install without DESTDIR runs: the daemon starts templates made by exec from PREFIX/libexec"
prefix="$tmp/home/.local"
PREFIX="$prefix" "$root/Scripts/install" >/dev/null
socket="$tmp/run/sock"
id="$(FORKCTL_TIMEOUT=10 "$prefix/bin/forkctl" --socket "$socket" exec)"
pid="$(pid_of "$prefix/bin/forkctl" "$socket" "$id")"
check "the template made by exec runs PREFIX/libexec/forkctl/forkctl-template (pid '$pid')" \
  test "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$prefix/libexec/forkctl/forkctl-template"
"$prefix/bin/forkctl" --socket "$socket" shutdown >/dev/null
check "the user units of a PREFIX systemd does not search go to PREFIX/share/systemd/user" \
  test ! -d "$prefix/lib/systemd/user"
PREFIX="$prefix" "$root/Scripts/uninstall" >/dev/null
check "nothing is left under PREFIX" test -z "$(ls -A "$prefix")"

testing "Scripts/deb builds forkctl_VERSION_ARCH.deb holding the /usr install"
version="$("$release/forkctl" --version)"
version="${version#forkctl }"
arch="$(dpkg --print-architecture)"
deb="$("$root/Scripts/deb" "$tmp/deb")"
check "the package's name" test "$deb" = "$tmp/deb/forkctl_${version}_${arch}.deb"
check "dpkg-deb reads it" dpkg-deb --info "$deb" >/dev/null
check "its Package field" test "$(dpkg-deb -f "$deb" Package)" = forkctl
check "its Version field" test "$(dpkg-deb -f "$deb" Version)" = "$version"
check "it depends on libbsd0, which forkctl-template links" \
  bash -c 'dpkg-deb -f "$1" Depends | grep -q "libbsd0"' - "$deb"
# The /usr/local install's files at /usr, but for the manifest (dpkg keeps its own), with
# zsh's Debian directory, compressed manual pages, and the files policy asks of a package.
sed -e '/^share\/forkctl\//d' -e 's|^share/zsh/site-functions/|share/zsh/vendor-completions/|' \
  -e 's|^share/man/\(.*\)|share/man/\1.gz|' -e 's|^|./usr/|' "$tmp/expected" >"$tmp/deb.expected"
printf '%s\n' ./usr/share/doc/forkctl/changelog.gz ./usr/share/lintian/overrides/forkctl >>"$tmp/deb.expected"
sort -o "$tmp/deb.expected" "$tmp/deb.expected"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort >"$tmp/deb.files"
check "dpkg-deb -c lists exactly the expected files" same "$tmp/deb.expected" "$tmp/deb.files"

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  testing "the .deb installed system-wide: skipped (needs root and dpkg)"
elif dpkg-query -W forkctl >/dev/null 2>&1 || [ -e /usr/bin/forkctl ]; then
  testing "the .deb installed system-wide: skipped (forkctl is already installed here)"
else
  testing "the .deb installs system-wide with dpkg -i, runs, and dpkg -r removes every file"
  dpkg -i "$deb" >/dev/null
  check "/usr/bin/forkctl prints its version" test "$(/usr/bin/forkctl --version)" = "forkctl $version"
  socket="$tmp/system/sock"
  id="$(FORKCTL_TIMEOUT=10 /usr/bin/forkctl --socket "$socket" exec)"
  pid="$(pid_of /usr/bin/forkctl "$socket" "$id")"
  check "the template made by exec runs /usr/libexec/forkctl/forkctl-template" \
    test "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/libexec/forkctl/forkctl-template
  /usr/bin/forkctl --socket "$socket" shutdown >/dev/null
  dpkg -r forkctl >/dev/null
  while IFS= read -r path; do
    check "dpkg -r removed ${path#.}" test ! -e "${path#.}"
  done <"$tmp/deb.files"
  check "dpkg forgot the package" bash -c '! dpkg-query -W forkctl >/dev/null 2>&1'
fi

if [ "$failed" -ne 0 ]; then
  echo "test-install: FAILED" >&2
  exit 1
fi
echo "test-install: all passed"
