#!/usr/bin/env bash
# The main job: the demo factory. Installs what is missing, builds (reusing earlier builds), starts a local
# PostgreSQL in var/demo/pg (wal_level=logical; schema and seed loaded on the first run), rtcache tailing it,
# the factory API, the web app and the activity simulator, then prints the URL and tokens. Ctrl-C stops all of
# it; a second run reuses the data directory, the secret and the builds.
#   DEMO_RATE=5 scripts/demo.sh        simulated activities per second (default 2; 0 = none)
#   RTCACHE_PORT=4000 DEMO_API_PORT=4100 DEMO_WEB_PORT=5173 scripts/demo.sh   ports (these are the defaults)
#   DEMO_RESET=1 scripts/demo.sh       start from a fresh database
#   RTCACHE_BUILD_DIR=DIR scripts/demo.sh   use binaries already built in DIR (no cmake step)
#   DEMO_CLUSTER=1 scripts/demo.sh     against a three-node cluster (scripts/cluster.sh, data in var/cluster):
#                                      the web app connects to a node that does not read the WAL
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh
cluster=${DEMO_CLUSTER:-0}
state="$root/var/demo"
rt_port=${RTCACHE_PORT:-4000}
api_port=${DEMO_API_PORT:-4100}
web_port=${DEMO_WEB_PORT:-5173}
rate=${DEMO_RATE:-2}
mkdir -p "$state/logs"

scripts/setup.sh

step() { echo "demo: $*"; }
die() {
  echo "demo: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { tail -n 30 "$2" >&2; echo "demo: full log: $2" >&2; }
  exit 1
}

# ---- builds (each step is a no-op when nothing changed) ----
build=${RTCACHE_BUILD_DIR:-}
if [ -z "$build" ]; then
  step "building rtcache and the factory API (release; log: var/demo/logs/build.log)"
  { cmake --preset release && cmake --build --preset release -j"$(nproc)" --target rtcache rtcache_factory_api; } \
    >"$state/logs/build.log" 2>&1 || die "build failed" "$state/logs/build.log"
  build="$root/build/release"
fi
rtcache_bin="$build/src/main/rtcache"
api_bin="$build/examples/factory-app/api/rtcache_factory_api"
[ -x "$rtcache_bin" ] && [ -x "$api_bin" ] || die "rtcache or rtcache_factory_api missing under $build"

newer_than() {  # TARGET DIR...: true when TARGET is missing or a file under DIR is newer
  [ -e "$1" ] || return 0
  local t=$1
  shift
  [ -n "$(find "$@" -newer "$t" -type f -not -path '*/node_modules/*' -print -quit 2>/dev/null)" ]
}
npm_ci() {
  if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    (cd "$1" && npm ci --no-audit --no-fund) >>"$state/logs/npm.log" 2>&1 || die "npm ci in $1 failed" "$state/logs/npm.log"
  fi
}
step "building the SDK and the web app"
npm_ci sdk/ts
if newer_than sdk/ts/dist/index.js sdk/ts/src sdk/ts/package.json; then
  (cd sdk/ts && npm run build) >>"$state/logs/npm.log" 2>&1 || die "SDK build failed" "$state/logs/npm.log"
fi
npm_ci examples/factory-app/web
web=examples/factory-app/web
if newer_than "$web/dist/index.html" "$web/src" "$web/index.html" "$web/vite.config.ts" sdk/ts/dist; then
  (cd "$web" && npx vite build) >"$state/logs/web-build.log" 2>&1 || die "web build failed" "$state/logs/web-build.log"
fi

# The cluster's data directory (scripts/lib/stack.sh: in /var/tmp when running as root where the postgres OS user
# cannot reach this checkout).
pg_dir=$(pg_data_dir "$state" demo "$root")
config="$root/examples/factory-app/rtcache.toml"

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  step "stopping"
  local i
  # TERM, not INT: background jobs of a non-interactive shell start with SIGINT ignored.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$cluster" = 1 ]; then
    scripts/cluster.sh stop >/dev/null 2>&1 || true
    step "stopped (data kept in var/cluster; DEMO_RESET=1 starts afresh)"
  else
    scripts/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
    step "stopped (data kept in $pg_dir; DEMO_RESET=1 starts afresh)"
  fi
}
interrupted=0
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT TERM

if [ "$cluster" = 1 ]; then
  # ---- the cluster: nats-server, PostgreSQL (schema and seed loaded once), three nodes sharing $config ----
  [ "${DEMO_RESET:-0}" != 1 ] || scripts/cluster.sh destroy >/dev/null 2>&1 || true
  step "starting the cluster: nats-server, PostgreSQL and three rtcache nodes (scripts/cluster.sh; log: var/demo/logs/cluster.log)"
  CLUSTER_CONFIG="$config" RTCACHE_BIN="$rtcache_bin" scripts/cluster.sh start >"$state/logs/cluster.log" 2>&1 ||
    die "the cluster did not start" "$state/logs/cluster.log"
  eval "$(scripts/cluster.sh env)"
  conninfo=$CLUSTER_PG_CONNINFO
  secret=$(cat "$CLUSTER_JWT_SECRET_FILE")
  # The web app's node: one that stands by, so what its clients see was read from the WAL by another node.
  rt_url=$(sed -n 's|^  node[0-9]*  \(http://[^ ]*\) .* standby$|\1|p' "$state/logs/cluster.log" | head -n 1)
  [ -n "$rt_url" ] || die "no node stands by (is [postgres] in $config?)" "$state/logs/cluster.log"
  rt_port=${rt_url##*:}
else
  # ---- PostgreSQL, schema and seed (once) ----
  if [ "${DEMO_RESET:-0}" = 1 ]; then
    scripts/pg_cluster.sh destroy "$pg_dir" >/dev/null 2>&1 || true
    rm -f "$state/seeded"
  fi
  step "starting PostgreSQL in $pg_dir"
  scripts/pg_cluster.sh start "$pg_dir" >"$state/logs/pg.log" 2>&1 || die "PostgreSQL did not start" "$state/logs/pg.log"
  conninfo=$(scripts/pg_cluster.sh conninfo "$pg_dir")
  if [ ! -f "$state/seeded" ]; then
    step "loading the schema and seed data"
    "$api_bin" load --conninfo "$conninfo" examples/factory-app/db/schema.sql examples/factory-app/db/seed.sql \
      >>"$state/logs/pg.log" 2>&1 || die "schema/seed failed" "$state/logs/pg.log"
    touch "$state/seeded"
  fi
  secret=$(secret_file "$state/jwt_secret")
fi

# ---- tokens ----
exp=$(($(date +%s) + 7 * 24 * 3600))
service_token=$(sign_jwt "$secret" "{\"role\":\"service_role\",\"exp\":$exp}")
f1_token=$(sign_jwt "$secret" "{\"role\":\"authenticated\",\"sub\":\"demo-user\",\"exp\":$exp,\"app_metadata\":{\"factory_ids\":[\"f1\"]}}")

wait_http() {  # URL LOG NAME
  local _
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$3 did not come up" "$2"
}

# ---- rtcache, the API, the web app, the simulator ----
if [ "$cluster" != 1 ]; then
  RTCACHE_JWT_SECRET="$secret" RTCACHE_PG_CONNINFO="$conninfo" "$rtcache_bin" check-config "$config" \
    >"$state/logs/rtcache.log" 2>&1 || die "rtcache refuses the demo config (does this build include the PostgreSQL source?)" "$state/logs/rtcache.log"
  step "starting rtcache on 127.0.0.1:$rt_port"
  RTCACHE_JWT_SECRET="$secret" RTCACHE_PG_CONNINFO="$conninfo" RTCACHE_LISTEN="127.0.0.1:$rt_port" \
    "$rtcache_bin" serve -c "$config" >>"$state/logs/rtcache.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$rt_port/readyz" "$state/logs/rtcache.log" rtcache
fi

step "starting the factory API on 127.0.0.1:$api_port"
RTCACHE_JWT_SECRET="$secret" "$api_bin" serve --listen "127.0.0.1:$api_port" --conninfo "$conninfo" --dev \
  >"$state/logs/api.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$api_port/api/_health" "$state/logs/api.log" "the factory API"

step "starting the web app on 127.0.0.1:$web_port"
(cd "$web" && FACTORY_API_URL="http://127.0.0.1:$api_port" RTCACHE_URL="http://127.0.0.1:$rt_port" WEB_PORT="$web_port" \
  exec node node_modules/vite/bin/vite.js preview) >"$state/logs/web.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$web_port/" "$state/logs/web.log" "the web app"

if [ "$rate" != "0" ]; then
  "$api_bin" simulate --conninfo "$conninfo" --rate "$rate" --factories f1,f2,f3 --seed "$(date +%s)" \
    >"$state/logs/simulator.log" 2>&1 &
  pids+=($!)
fi

cat <<INFO

The demo factory is running.
  Web app:      http://127.0.0.1:$web_port/      (user: factories f1,f2; ?as=f1 or ?as=f3 signs in as another user)
  Factory API:  http://127.0.0.1:$api_port/api/wo?factory=f1   (Authorization: Bearer <token>)
  rtcache:      ws://127.0.0.1:$rt_port/realtime/v1/websocket   metrics: http://127.0.0.1:$rt_port/metrics
  PostgreSQL:   $conninfo
  SERVICE_TOKEN (service_role):   $service_token
  USER_TOKEN (factory f1 only):   $f1_token
Simulated activity: $rate/s over factories f1..f3 (log: var/demo/logs/simulator.log). Logs: var/demo/logs/.
Ctrl-C stops everything.

INFO
if [ "$cluster" = 1 ]; then
  cat <<INFO
Cluster mode: the web app's rtcache above is a standby node; another reads the WAL into NATS JetStream
($CLUSTER_NATS_URL). Every node serves the same events at the same positions:
$(scripts/cluster.sh status || true)
Kill the reader (kill -9 <pid>) and a standby takes over; scripts/cluster.sh start brings the node back.
The demo's events come from the WAL; a relay POST (POST /v1/events, REST or client broadcasts) on any node
reaches every node's clients too, through the cluster's ingest stream.

INFO
fi
wait -n "${pids[@]}" || true
sleep 0.2  # a Ctrl-C reaches the children too: let this shell's INT trap run first
[ "$interrupted" = 1 ] || echo "demo: a component exited; see var/demo/logs/" >&2
