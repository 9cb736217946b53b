#!/usr/bin/env bash
# docs/supabase.md's snippets, run: every block tagged `supabase-test:<name>` there is extracted as written and
# run by tests/supabase-doc/run.mjs against a local stand-in of a Supabase project — a disposable PostgreSQL 15
# (scripts/pg_cluster.sh) with the demo schema in database `postgres`, Supabase's roles and auth schema
# emulated, a stand-in for Supabase Auth and the rest of the project (tests/supabase-doc/standin.mjs), the
# release rtcache and Debian's nginx. Ends with `supabase-doc: N passed, M failed`.
#   RTCACHE_BIN            the server binary (default build/release/src/main/rtcache)
#   SUPABASE_DOC_KEEP=1    keep the work directory (logs, extracted snippets, nginx config, cluster)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
# shellcheck source-path=SCRIPTDIR source=lib/stack.sh
. scripts/lib/stack.sh

fail_setup() {
  echo "supabase-doc: setup failed: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2
  echo "supabase-doc: 0 passed, 1 failed"
  exit 1
}

bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
[ -x "$bin" ] || fail_setup "no server binary at $bin (build it, or set RTCACHE_BIN)"
{ command -v node && command -v npm; } >/dev/null || fail_setup "node and npm are required (Node 20+)"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || fail_setup "nginx not found (scripts/setup.sh --test installs Debian's nginx)"
psql_bin=$(find_psql) || fail_setup "psql not found (apt-get install postgresql-client)"

# The work directory is readable by others: nginx's workers and PostgreSQL (as root, the postgres OS user)
# must reach what lies in it.
work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-supabase-doc.XXXXXX")
chmod 755 "$work"
pg_dir="$work/pg"
mkdir -p "$work/logs"

finish() {
  local code=$?
  scripts/pg_cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
  if [ "${SUPABASE_DOC_KEEP:-0}" = 1 ] || [ "$code" -ne 0 ]; then
    echo "supabase-doc: work directory kept in $work" >&2
  else
    rm -rf "$work"
  fi
  trap - EXIT
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM

# The SDK and supabase-js exactly as sdk/ts locks them (the SDK's own dependencies, so the snippets and the SDK
# share one @tanstack/query-core), and the SDK built.
if [ ! -f sdk/ts/node_modules/.package-lock.json ] || [ sdk/ts/package-lock.json -nt sdk/ts/node_modules/.package-lock.json ]; then
  (cd sdk/ts && npm ci --no-audit --no-fund --loglevel=error) >"$work/logs/npm.log" 2>&1 || fail_setup "npm ci in sdk/ts" "$work/logs/npm.log"
fi
if [ ! -f sdk/ts/dist/index.js ] || [ -n "$(find sdk/ts/src sdk/ts/package.json -newer sdk/ts/dist/index.js -type f -print -quit)" ]; then
  (cd sdk/ts && npm run build) >>"$work/logs/npm.log" 2>&1 || fail_setup "SDK build" "$work/logs/npm.log"
fi

# The snippets import '@supabase/supabase-js', '@tanstack/query-core', 'ws' and '@rtcache/sdk' as an app
# does. They are written to $work/snippets, whose node_modules links to sdk/ts's packages and to the SDK;
# Node resolves the links to their real paths, so the SDK and the snippets load the same modules.
mkdir -p "$work/node_modules/@rtcache"
for entry in "$root"/sdk/ts/node_modules/* "$root"/sdk/ts/node_modules/.bin; do
  ln -s "$entry" "$work/node_modules/"
done
ln -s "$root/sdk/ts" "$work/node_modules/@rtcache/sdk"
cp tests/supabase-doc/*.mjs "$work/"

scripts/pg_cluster.sh start "$pg_dir" >"$work/logs/pg_cluster.log" 2>&1 || fail_setup "PostgreSQL" "$work/logs/pg_cluster.log"

SUPABASE_DOC_ROOT=$root SUPABASE_DOC_WORK=$work RTCACHE_BIN=$bin NGINX_BIN=$nginx_bin PSQL_BIN=$psql_bin \
PG_PORT=$(cat "$pg_dir/port") node "$work/run.mjs" | tee "$work/logs/run.log"
summary=$(tail -n 1 "$work/logs/run.log")
if [[ "$summary" =~ ^supabase-doc:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  [ "${BASH_REMATCH[2]}" -eq 0 ]
else
  echo "supabase-doc: 0 passed, 1 failed"
  exit 1
fi
