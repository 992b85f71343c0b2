# Shared by the bench scripts (sourced): a work directory removed on exit with the processes started
# in it, and the port a process printed in its "listening on HOST:PORT" line.

# bench_work PREFIX: sets $work (mode 711: the embedded cluster's account must pass through it), stops
# $simpid and $servepid (when set) and removes $work on exit.
bench_work() {
  work=$(mktemp -d "/tmp/cshealthd-$1-XXXXXX")
  chmod 711 "$work"
  simpid=""
  servepid=""
  trap bench_cleanup EXIT
}
bench_cleanup() {
  [ -n "$simpid" ] && kill -TERM "$simpid" 2>/dev/null || true
  [ -n "$servepid" ] && kill -TERM "$servepid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}

# port_of LOG [PATTERN]: waits (up to 5 minutes) for PATTERN ('listening on') in LOG and prints the
# port; exits with LOG's tail when it never comes.
port_of() {
  local pattern="${2:-listening on}"
  for _ in $(seq 1 3000); do
    if grep -aq "$pattern" "$1" 2>/dev/null; then
      grep -ao "$pattern [0-9.]*:[0-9]*" "$1" | head -1 | sed 's/.*://'
      return
    fi
    sleep 0.1
  done
  echo "bench: $1 did not start" >&2
  tail -20 "$1" >&2
  exit 1
}
