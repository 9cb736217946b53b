#!/usr/bin/env bash
# Compatibility suite: drives the real @supabase/supabase-js and @supabase/realtime-js clients (tests/compat,
# versions pinned in its package-lock.json) against a real `rtcache serve`, in two phases:
#   relay  `rtcache serve` with no database (tests/compat/test/*.test.mjs)
#   pg     `rtcache serve -c` with the PostgreSQL source on a disposable cluster: scripts/compat-pg.sh
#          (tests/compat/test/pg/*.test.mjs); PostgreSQL that cannot start is a failure
#   RTCACHE_BIN    the server binary (default build/release/src/main/rtcache)
#   READY_SECONDS  how long to wait for /readyz (default 20)
#   COMPAT_PHASES  which phases run (default "relay pg")
# Extra arguments go to vitest of every phase that runs (a file filter: pick the phase with COMPAT_PHASES).
# Ends with "compat: N passed, M failed, K skipped", the sum of both phases.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
if [ ! -x "$bin" ]; then
  echo "compat: no server binary at $bin (build it, or set RTCACHE_BIN)" >&2
  echo "compat: 0 passed, 1 failed"
  exit 1
fi
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "compat: node and npm are required (Node 20+)" >&2
  exit 1
}

phases=${COMPAT_PHASES:-relay pg}
run_relay=0 run_pg=0
for p in $phases; do
  case $p in
    relay) run_relay=1 ;;
    pg) run_pg=1 ;;
    *) echo "compat: unknown phase '$p' in COMPAT_PHASES (relay, pg)" >&2; echo "compat: 0 passed, 1 failed"; exit 2 ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-compat.XXXXXX")
pid_file=$work/server.pid
server_log=$work/server.log

stop_server() {
  local pid
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}
on_exit() {
  local rc=$?
  stop_server
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
  # relay mode: `rtcache serve` with no config; tests/compat/test/*.test.mjs (vitest.config.mjs)
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  export RTCACHE_LISTEN=127.0.0.1:$port
  export RTCACHE_JWT_SECRET=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')
  export RTCACHE_URL=http://127.0.0.1:$port
  export RTCACHE_BIN=$bin RTCACHE_PID_FILE=$pid_file RTCACHE_SERVER_LOG=$server_log

  "$bin" serve >>"$server_log" 2>&1 &
  echo $! >"$pid_file"

  ready_deadline=$((SECONDS + ${READY_SECONDS:-20}))
  until curl -fsS -o /dev/null --max-time 1 "$RTCACHE_URL/readyz" 2>/dev/null; do
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      tail -n 40 "$server_log"
      echo "compat: the server exited before it was ready" >&2
      echo "compat: 0 passed, 1 failed"
      exit 1
    fi
    if [ $SECONDS -ge $ready_deadline ]; then
      tail -n 40 "$server_log"
      echo "compat: the server was not ready within ${READY_SECONDS:-20} s" >&2
      echo "compat: 0 passed, 1 failed"
      exit 1
    fi
    sleep 0.1
  done
  echo "compat: rtcache serve ready on $RTCACHE_LISTEN ($bin)"

  rc=0
  (cd tests/compat && npx --no-install vitest run --reporter=default --reporter=json \
    --outputFile.json="$work/results.json" "$@") || rc=$?

  counts=$(node -e '
    const fs = require("fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      console.log(`${r.numPassedTests} ${r.numFailedTests + (r.numTotalTestSuites && !r.success && r.numFailedTests === 0 ? 1 : 0)} ${r.numPendingTests + r.numTodoTests}`);
    } catch { console.log("0 1 0"); }' "$work/results.json")
  read -r passed failed skipped <<<"$counts"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  if [ "$failed" -ne 0 ]; then
    echo "compat: server log (last 40 lines of $server_log):"
    tail -n 40 "$server_log" || true
  fi
}

passed=0 failed=0 skipped=0
if [ "$run_relay" -eq 1 ]; then
  relay_phase "$@"
  stop_server
fi
if [ "$run_pg" -eq 1 ]; then
  pg_rc=0
  COMPAT_PG_COUNTS=$work/pg-counts COMPAT_NO_NPM_CI=1 RTCACHE_BIN=$bin scripts/compat-pg.sh "$@" || pg_rc=$?
  read -r pg_passed pg_failed pg_skipped <"$work/pg-counts" 2>/dev/null || { pg_passed=0 pg_failed=1 pg_skipped=0; }
  if [ "$pg_rc" -ne 0 ] && [ "$pg_failed" -eq 0 ]; then pg_failed=1; fi
  passed=$((passed + pg_passed)) failed=$((failed + pg_failed)) skipped=$((skipped + pg_skipped))
fi
echo "compat: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]