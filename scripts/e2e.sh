#!/usr/bin/env bash
# Browser end-to-end tests: starts the real stack on free ports — a disposable PostgreSQL (scripts/pg_cluster.sh)
# with the demo schema and seed, the factory API, the web app (vite preview) — runs the factory API's database
# tests and the Playwright suite in tests/e2e (headless Debian Chromium; the suite owns rtcache, which one case
# kills with -9 and restarts, and which reaches rtcache through a proxy that can hold a channel's join), stops
# everything and ends with `e2e: N passed, M failed`. Screenshots go to build/e2e/screenshots; a run changes no
# tracked file.
#   --update-doc-images               also write the screenshots the README shows to docs/img
#   RTCACHE_BUILD_DIR=build/release   where rtcache and rtcache_factory_api are built (default: the release preset)
#   E2E_ONLY='burst'                  run only the browser cases whose name contains this
#   E2E_KEEP=1                        keep var/e2e (logs, cluster) after the run
set -uo pipefail
shots_rel=build/e2e/screenshots
for arg in "$@"; do
  case $arg in
    --update-doc-images) shots_rel=docs/img ;;
    *) echo "e2e: unknown argument $arg (use --update-doc-images)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
root=$(pwd)
state="$root/var/e2e"
# The cluster lives under /tmp, not var/: as root, pg_cluster.sh hands it to the postgres OS user, who cannot
# reach a checkout below a 0700 directory (a mktemp -d clone, /root).
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-e2e-pg.XXXXXX")
logs="$state/logs"
passed=0
failed=0
pids=()

finish() {
  local code=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
  if [ "${E2E_KEEP:-0}" = 1 ]; then echo "e2e: cluster kept in $pg_dir" >&2; else rm -rf "$pg_dir"; fi
  trap - EXIT
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM

fail_setup() {
  echo "e2e: setup failed: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2
  echo "e2e: $passed passed, $((failed + 1)) failed"
  exit 1
}

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

wait_http() {  # URL LOG: until URL answers 2xx (20 s)
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail_setup "$1 did not answer" "$2"
}

rm -rf "$logs"
mkdir -p "$logs"

# ---- builds ----
build=${RTCACHE_BUILD_DIR:-$root/build/release}
if [ -z "${RTCACHE_BUILD_DIR:-}" ]; then
  echo "e2e: building rtcache, rtcache_factory_api (release)"
  { cmake --preset release && cmake --build --preset release -j"$(nproc)" \
      --target rtcache rtcache_factory_api rtcache_factory_api_tests; } >"$logs/build.log" 2>&1 \
    || fail_setup "build" "$logs/build.log"
fi
rtcache_bin="$build/src/main/rtcache"
api_bin="$build/examples/factory-app/api/rtcache_factory_api"
api_tests="$build/examples/factory-app/api/rtcache_factory_api_tests"
[ -x "$rtcache_bin" ] && [ -x "$api_bin" ] || fail_setup "binaries missing under $build"

npm_ci() {  # DIR: npm ci unless node_modules matches the lock file
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund) >>"$logs/npm.log" 2>&1 || fail_setup "npm ci in $dir" "$logs/npm.log"
  fi
}
echo "e2e: installing and building the SDK and the web app"
npm_ci sdk/ts
(cd sdk/ts && npm run build) >>"$logs/npm.log" 2>&1 || fail_setup "SDK build" "$logs/npm.log"
npm_ci examples/factory-app/web
npm_ci tests/e2e
(cd examples/factory-app/web && npx tsc --noEmit && npx vite build) >>"$logs/web-build.log" 2>&1 \
  || fail_setup "web typecheck/build" "$logs/web-build.log"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail_setup "Chromium not found at $chromium (apt-get install chromium)"

# ---- PostgreSQL with the demo schema ----
scripts/pg_cluster.sh start "$pg_dir" >"$logs/pg.log" 2>&1 || fail_setup "PostgreSQL" "$logs/pg.log"
conninfo=$(scripts/pg_cluster.sh conninfo "$pg_dir")
"$api_bin" load --conninfo "$conninfo" examples/factory-app/db/schema.sql examples/factory-app/db/seed.sql \
  >>"$logs/pg.log" 2>&1 || fail_setup "schema and seed" "$logs/pg.log"

# ---- the API's database tests ----
if [ -x "$api_tests" ]; then
  echo "e2e: factory API database tests"
  if RTCACHE_TEST_PG_CONNINFO="$conninfo" "$api_tests" --gtest_brief=1 >"$logs/api-tests.log" 2>&1; then
    n=$(grep -oE '^\[  PASSED  \] [0-9]+' "$logs/api-tests.log" | grep -oE '[0-9]+$' || echo 0)
    passed=$((passed + n))
    echo "e2e: factory API tests: $n passed"
  else
    failed=$((failed + 1))
    tail -n 30 "$logs/api-tests.log"
    echo "e2e: factory API tests FAILED (log: $logs/api-tests.log)"
  fi
fi

# ---- the API and the web app (rtcache itself is started by the suite) ----
secret=$(openssl rand -hex 32)
rt_port=$(free_port)
proxy_port=$(free_port) # the browser's way to rtcache (tests/e2e/lib.mjs, JoinDelayProxy)
api_port=$(free_port)
web_port=$(free_port)
RTCACHE_JWT_SECRET="$secret" "$api_bin" serve --listen "127.0.0.1:$api_port" --conninfo "$conninfo" --dev \
  >"$logs/api.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$api_port/api/_health" "$logs/api.log"
(cd examples/factory-app/web && FACTORY_API_URL="http://127.0.0.1:$api_port" RTCACHE_URL="http://127.0.0.1:$proxy_port" \
  WEB_PORT="$web_port" exec node node_modules/vite/bin/vite.js preview) >"$logs/web.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$web_port/" "$logs/web.log"

echo "e2e: browser suite (rtcache on $rt_port, API on $api_port, web on $web_port)"
E2E_WEB_URL="http://127.0.0.1:$web_port" E2E_API_URL="http://127.0.0.1:$api_port" \
E2E_PROXY_LISTEN="127.0.0.1:$proxy_port" \
E2E_SCREENSHOT_DIR="$root/$shots_rel" E2E_LOG_DIR="$logs" CHROMIUM="$chromium" \
RTCACHE_BIN="$rtcache_bin" RTCACHE_CONFIG="$root/examples/factory-app/rtcache.toml" \
RTCACHE_LISTEN="127.0.0.1:$rt_port" RTCACHE_JWT_SECRET="$secret" RTCACHE_PG_CONNINFO="$conninfo" \
  node tests/e2e/run.mjs | tee "$logs/browser.log"
summary=$(tail -n 1 "$logs/browser.log")
if [[ "$summary" =~ ^e2e:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
else
  failed=$((failed + 1))
fi
echo "e2e: logs in $logs, screenshots in $shots_rel"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
