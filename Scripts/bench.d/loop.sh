#!/usr/bin/env bash
# The shell loop of Scripts/bench's CLI groups: runs COMMAND N times in a bash for-loop
# (stdin /dev/null, stdout /dev/null, stderr left alone), timed with EPOCHREALTIME around
# the whole loop, and prints the microseconds it took. Fails if any call failed.
#
#   loop.sh N COMMAND [ARG...]
set -euo pipefail
[[ $# -ge 2 && $1 =~ ^[1-9][0-9]*$ ]] || { echo "usage: loop.sh N COMMAND [ARG...]" >&2; exit 2; }
[[ -n ${EPOCHREALTIME:-} ]] || { echo "loop.sh: needs bash 5 or later (EPOCHREALTIME)" >&2; exit 1; }
n=$1
shift
fails=0
t0=$EPOCHREALTIME
for ((i = 0; i < n; i++)); do
  "$@" || fails=$((fails + 1))
done </dev/null >/dev/null
t1=$EPOCHREALTIME
((fails == 0)) || { echo "loop.sh: '$*' failed $fails times out of $n" >&2; exit 1; }
echo $((${t1/./} - ${t0/./}))
