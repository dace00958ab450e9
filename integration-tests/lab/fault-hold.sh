#!/bin/sh
# Lab fault injection. The fault-matrix scenario installs this as /usr/local/bin/nix-env,
# systemd-run and systemctl of its robot: on the agent's PATH, in front of the real commands in
# /usr/bin. A flag file /run/fm-hold/TOOL.before (or TOOL.after) holding a word holds each call of
# TOOL whose arguments contain that word, before (after) the real command runs, for as long as the
# flag exists; the held call writes its arguments to FLAG.held. A flag TOOL.fail holding a word fails
# the next such call once, as systemd does when it drops a call (the real command does not run), and
# becomes TOOL.fail.used. /run is empty after a boot.
tool=${0##*/}
real=/usr/bin/$tool
flags=/run/fm-hold
[ -d "$flags" ] || exec "$real" "$@"
args=" $* "
hold() {
  flag=$flags/$tool.$1
  [ -f "$flag" ] || return 0
  word=$(cat "$flag" 2>/dev/null) || return 0
  case "$args" in *"$word"*) ;; *) return 0 ;; esac
  printf '%s\n' "$args" >"$flag.held"
  while [ -e "$flag" ]; do sleep 0.1; done
}
fail_once() {
  flag=$flags/$tool.fail
  [ -f "$flag" ] || return 0
  word=$(cat "$flag" 2>/dev/null) || return 0
  case "$args" in *"$word"*) ;; *) return 0 ;; esac
  # The rename is the claim: of two racing calls, one fails.
  mv "$flag" "$flag.used" 2>/dev/null || return 0
  echo "Failed to get properties: Connection reset by peer" >&2
  exit 1
}
fail_once
hold before
[ -f "$flags/$tool.after" ] || exec "$real" "$@"
"$real" "$@"
rc=$?
hold after
exit $rc
