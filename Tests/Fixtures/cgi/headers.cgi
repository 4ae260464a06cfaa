#!/bin/sh
# Several headers, a status of its own, and a body that tells who ran it: its parent
# (forkctl's daemon, not lighttpd), its directory and arguments.
printf 'Status: 201 Created\r\n'
printf 'Content-Type: text/x-forkctl; charset=utf-8\r\n'
printf 'X-Forkctl-One: 1\r\n'
printf 'X-Forkctl-Two: two words\r\n'
printf 'Cache-Control: no-store\r\n'
printf '\r\n'
printf 'method=%s\n' "$REQUEST_METHOD"
printf 'script=%s\n' "$0"
printf 'args=%s\n' "$#"
printf 'cwd=%s\n' "$(pwd)"
printf 'ppid=%s\n' "$PPID"
