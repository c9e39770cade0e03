#!/usr/bin/env bash
# Sourced by start-caspian.sh and stop-caspian.sh (from the checkout's root): `hub_pid` prints the pid in
# .caspian.pid if that process is this checkout's hub (`node dist/cli/main.js serve`, run from here), and
# fails otherwise. A pid file left by a hub that died is stale, and its pid may since belong to another
# process, which must never get the hub's SIGTERM.
hub_pid() {
  local pid args cwd
  [ -f .caspian.pid ] || return 1
  pid=$(cat .caspian.pid)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/cmdline" ]; then
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null)
  else
    # No /proc (macOS, the BSDs): ps for the command line, lsof for the directory; unknown is not ours.
    args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
    cwd=$(lsof -a -p "$pid" -d cwd -Fn 2>/dev/null | sed -n 's/^n//p')
  fi
  [ -n "$cwd" ] && [ "$cwd" = "$(pwd -P)" ] || return 1
  case "$args" in *"dist/cli/main.js serve"*) echo "$pid" ;; *) return 1 ;; esac
}
