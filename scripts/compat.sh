#!/usr/bin/env bash
# Compatibility suite: drives the real @supabase/supabase-js and @supabase/realtime-js clients (tests/compat,
# versions pinned in its package-lock.json) against a real `rtcache serve`, in three phases:
#   relay  `rtcache serve -c tests/compat/relay.toml`, no database (tests/compat/test/*.test.mjs)
#   pg     `rtcache serve -c` with the PostgreSQL source on a disposable cluster: scripts/compat-pg.sh
#          (tests/compat/test/pg/*.test.mjs); PostgreSQL that cannot start is a failure
#   cluster two `rtcache serve -c` nodes on one NATS JetStream stream and one replication slot, with a disposable
#          PostgreSQL and nats-server, then two more nodes without [postgres] (the relay tests and the lease's
#          fail-over): scripts/compat-cluster.sh (tests/compat/test/cluster/); either that cannot start is a failure
#   RTCACHE_BIN    the server binary (default build/release/src/main/rtcache)
#   READY_SECONDS  how long to wait for /readyz (default 20)
#   COMPAT_PHASES  which phases run (default "relay pg cluster")
# Extra arguments go to vitest of every phase that runs (a file filter: pick the phase with COMPAT_PHASES).
# Ends with "compat: N passed, M failed, K skipped", the sum of the phases that ran.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source-path=SCRIPTDIR source=lib/server.sh
. scripts/lib/server.sh

bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
if [ ! -x "$bin" ]; then
  echo "compat: no server binary at $bin (build it, or set RTCACHE_BIN)" >&2
  echo "compat: 0 passed, 1 failed"
  exit 1
fi
{ command -v node && command -v npm; } >/dev/null || {
  echo "compat: node and npm are required (Node 20+)" >&2
  exit 1
}

phases=${COMPAT_PHASES:-relay pg cluster}
run_relay=0 run_pg=0 run_cluster=0
for p in $phases; do
  case $p in
    relay) run_relay=1 ;;
    pg) run_pg=1 ;;
    cluster) run_cluster=1 ;;
    *) echo "compat: unknown phase '$p' in COMPAT_PHASES (relay, pg, cluster)" >&2; echo "compat: 0 passed, 1 failed"; exit 2 ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-compat.XXXXXX")
pid_file=$work/server.pid
server_log=$work/server.log

on_exit() {
  local rc=$?
  server_stop
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "compat: logs kept in $work" >&2; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Dependencies, exactly as locked.
(cd tests/compat && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) || {
  tail -n 40 "$work/npm.log"
  echo "compat: npm ci failed" >&2
  echo "compat: 0 passed, 1 failed"
  exit 1
}

relay_phase() {
  # relay mode: `rtcache serve -c tests/compat/relay.toml` (no database: private-channel rules, client
  # broadcasts on); tests/compat/test/*.test.mjs (vitest.config.mjs)
  server_env
  export RTCACHE_COMPAT_CONFIG=$root/tests/compat/relay.toml
  server_start serve -c "$RTCACHE_COMPAT_CONFIG"
  if ! server_wait_ready "${READY_SECONDS:-20}" ready; then
    echo "compat: $server_error" >&2
    echo "compat: 0 passed, 1 failed"
    exit 1
  fi
  echo "compat: rtcache serve ready on $RTCACHE_LISTEN ($bin)"

  rc=0
  (cd tests/compat && npx --no-install vitest run --reporter=default --reporter=json \
    --outputFile.json="$work/results.json" "$@") || rc=$?

  read -r passed failed skipped < <(vitest_counts "$work/results.json" "$rc")
  if [ "$failed" -ne 0 ]; then
    echo "compat: server log (last 40 lines of $server_log):"
    tail -n 40 "$server_log" || true
  fi
}

passed=0 failed=0 skipped=0
# run_phase NAME ARGS...: scripts/compat-NAME.sh ARGS, which writes its counts to the file COMPAT_<NAME>_COUNTS
# names; they are added to the totals. A phase that fails without writing them, or without counting a failure,
# counts as one failure.
run_phase() {
  local name=$1 rc=0 p f s
  shift
  env "COMPAT_${name^^}_COUNTS=$work/$name-counts" COMPAT_NO_NPM_CI=1 RTCACHE_BIN="$bin" "scripts/compat-$name.sh" "$@" || rc=$?
  read -r p f s <"$work/$name-counts" 2>/dev/null || { p=0 f=1 s=0; }
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}
if [ "$run_relay" -eq 1 ]; then
  relay_phase "$@"
  server_stop
fi
if [ "$run_pg" -eq 1 ]; then run_phase pg "$@"; fi
if [ "$run_cluster" -eq 1 ]; then run_phase cluster "$@"; fi
echo "compat: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]