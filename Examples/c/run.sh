#!/bin/sh
# Builds libscorer.so in a temporary directory and runs it through forkctl: the shell
# session of forkctl(1), FUNCTION WORKERS. FORKCTL names the forkctl to use (default:
# forkctl in PATH).
set -e
here=$(cd "$(dirname "$0")" && pwd)
F=${FORKCTL:-forkctl}
work=$(mktemp -d)
trap '$F kill scorer 2>/dev/null; $F forget scorer >/dev/null 2>&1; rm -rf "$work"' EXIT
cc -shared -fPIC -O2 -I"$here/../../include" -o "$work/libscorer.so" "$here/scorer.c"
cd "$work"
printf 'apple pear plum\n' > model.txt
printf 'apple apple kiwi pear\n' > input.txt
$F exec --name scorer >/dev/null
$F load scorer ./libscorer.so -- model.txt        # forkctl_init runs once, in the template
w=$($F fork scorer)                               # a worker sharing the model
$F send-fd "$w" 0 1 2
$F call "$w" -- score input.txt                   # the worker calls score(argc, argv)
$F wait "$w"
$F spawn --from scorer --call score < input.txt   # the same in one request, stdin scored
