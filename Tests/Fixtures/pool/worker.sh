#!/bin/sh
# A pool worker for Tests/ForkctlIntegrationTests/PoolTests.swift that does what files in DIR
# (its only argument) tell it, so that a test can script a load without a server:
#
#   DIR/mode.PID, else DIR/mode    what to do now (default idle):
#     idle       report IDLE=1 once, then wait
#     busy       report BUSY=1 once (one request), then hang in it without WATCHDOG=1
#     watchdog   busy, and WATCHDOG=1 at every poll
#     cycle      BUSY=1, IDLE=1, BUSY=1 ... one request per two polls
#     exit       end with status 3
#   DIR/say.PID                    one datagram to send as it is (then removed): STATUS=,
#                                  data lines, several lines at once
#   DIR/term-delay                 seconds to take over SIGTERM (default 0)
#
# It says READY=1 first, on the notify descriptor FORKCTL_NOTIFY_FD (`>&$FORKCTL_NOTIFY_FD`,
# as forkctl(1) tells a shell worker to), and appends to DIR/log one line per thing it did,
# "WORD PID": env (then FORKCTL_POOL and the descriptor), ready, busy, idle, quit (SIGQUIT),
# term (SIGTERM), said, exit.
# It ends by itself when DIR is removed, so that a failed test leaves no worker behind.
dir=$1
fd=${FORKCTL_NOTIFY_FD:?}
log() { echo "$1 $$" >>"$dir/log"; }
say() { printf '%s\n' "$1" >&"$fd"; }
# Reports a state it takes: busy (one request) or idle.
report() {
  now=$1
  case $now in
    busy) say BUSY=1 ;;
    idle) say IDLE=1 ;;
  esac
  log "$now"
}

trap 'log term; sleep "$(cat "$dir/term-delay" 2>/dev/null || echo 0)"; log exit; exit 0' TERM
trap 'log quit' QUIT

echo "env $$ ${FORKCTL_POOL:-} $fd" >>"$dir/log"
say READY=1
log ready
now=idle
while [ -d "$dir" ]; do
  # read, a builtin: ten polls a second in every worker fork nothing but sleep.
  want=idle
  if [ -f "$dir/mode.$$" ]; then
    read -r want <"$dir/mode.$$"
  elif [ -f "$dir/mode" ]; then
    read -r want <"$dir/mode"
  fi
  if [ -f "$dir/say.$$" ]; then
    # One write(2) of a small file: one datagram.
    cat "$dir/say.$$" >&"$fd"
    rm -f "$dir/say.$$"
    log said
  fi
  case "$want" in
    cycle)
      if [ "$now" = busy ]; then report idle; else report busy; fi
      ;;
    watchdog)
      [ "$now" = busy ] || report busy
      say WATCHDOG=1
      ;;
    idle | busy)
      [ "$now" = "$want" ] || report "$want"
      ;;
    exit)
      log exit
      exit 3
      ;;
  esac
  sleep 0.1
done
