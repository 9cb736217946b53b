#!/usr/bin/env bash
# Compatibility suite, PostgreSQL phase: the real @supabase/supabase-js against `rtcache serve -c FILE` with the
# PostgreSQL source. Starts a disposable PostgreSQL (scripts/pg_cluster.sh; stopped and destroyed on exit, also
# on failure), creates the tables, writes the config, starts the server, waits for /readyz and for
# `rtcache_replication_connected 1`, then runs tests/compat/test/pg/*.test.mjs (vitest.pg.config.mjs).
#   RTCACHE_BIN        the server binary (default build/release/src/main/rtcache)
#   READY_SECONDS      how long to wait for /readyz and the replication stream (default 30)
#   COMPAT_PG_COUNTS   if set, "passed failed skipped" is also written to this file (scripts/compat.sh sums)
#   COMPAT_NO_NPM_CI=1 skip `npm ci` (scripts/compat.sh already ran it)
# Extra arguments go to vitest. Ends with "compat-pg: N passed, M failed, K skipped". PostgreSQL that cannot
# start is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source-path=SCRIPTDIR source=lib/server.sh
. scripts/lib/server.sh

report() {  # passed failed skipped
  echo "compat-pg: $1 passed, $2 failed, $3 skipped"
  if [ -n "${COMPAT_PG_COUNTS:-}" ]; then echo "$1 $2 $3" >"$COMPAT_PG_COUNTS"; fi
}
fail_setup() {
  echo "compat-pg: $*" >&2
  report 0 1 0
  exit 1
}

bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
[ -x "$bin" ] || fail_setup "no server binary at $bin (build it, or set RTCACHE_BIN)"
command -v node >/dev/null && command -v npm >/dev/null || fail_setup "node and npm are required (Node 20+)"

psql_bin=$(command -v psql || true)
if [ -z "$psql_bin" ]; then
  for v in 15 16 17 14; do
    if [ -x "/usr/lib/postgresql/$v/bin/psql" ]; then psql_bin=/usr/lib/postgresql/$v/bin/psql; break; fi
  done
fi
[ -n "$psql_bin" ] || fail_setup "psql not found (apt-get install postgresql-client)"

work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-compat-pg.XXXXXX")
# The cluster gets its own directory: as root, pg_cluster.sh hands it to the postgres OS user, who must be
# able to reach it (a 0700 parent owned by root would not do).
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-compat-pgdata.XXXXXX")
pid_file=$work/server.pid
server_log=$work/server.log

on_exit() {
  local rc=$?
  server_stop
  if [ "$rc" -ne 0 ] && [ -f "$pg_dir/postgres.log" ]; then cp "$pg_dir/postgres.log" "$work/" 2>/dev/null || true; fi
  scripts/pg_cluster.sh destroy "$pg_dir" >/dev/null 2>&1 || rm -rf "$pg_dir"
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "compat-pg: logs kept in $work" >&2; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

if [ "${COMPAT_NO_NPM_CI:-0}" != 1 ]; then
  (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) || {
    tail -n 40 "$work/npm.log"
    fail_setup "npm ci failed"
  }
fi

# PostgreSQL: a fresh cluster on a free port.
scripts/pg_cluster.sh start "$pg_dir" >"$work/pg_cluster.log" 2>&1 || {
  cat "$work/pg_cluster.log" >&2
  fail_setup "PostgreSQL did not start (scripts/pg_cluster.sh start $pg_dir)"
}
conninfo=$(scripts/pg_cluster.sh conninfo "$pg_dir")

# The schema: a mapped table (factory, version, status, a never_send column), a public table and an unmapped
# one. REPLICA IDENTITY FULL so updates carry changedKeys/patch and deletes carry the whole old row.
"$psql_bin" "$conninfo" -q -v ON_ERROR_STOP=1 >"$work/schema.log" 2>&1 <<'SQL' || { cat "$work/schema.log" >&2; fail_setup "creating the tables failed"; }
CREATE TABLE public.work_orders (
  id text PRIMARY KEY,
  factory_id text NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  status text NOT NULL DEFAULT 'open',
  qty integer NOT NULL DEFAULT 0,
  internal_notes text
);
ALTER TABLE public.work_orders REPLICA IDENTITY FULL;
CREATE TABLE public.announcements (
  id bigint PRIMARY KEY,
  body text NOT NULL,
  author_email text
);
ALTER TABLE public.announcements REPLICA IDENTITY FULL;
CREATE TABLE public.audit_log (
  id bigserial PRIMARY KEY,
  note text
);
ALTER TABLE public.audit_log REPLICA IDENTITY FULL;
SQL

config=$work/rtcache.toml
cat >"$config" <<'TOML'
# Written by scripts/compat-pg.sh. conninfo comes from RTCACHE_PG_CONNINFO.
doc_types = ["wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"]

[postgres]
slot = "rtcache_compat"
publication = "rtcache_compat"
create_slot = true
create_publication = true
status_interval_ms = 200

[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
status_column = "status"
approve_values = ["approved"]
reject_values = ["rejected"]
patch = ["status", "qty"]
never_send = ["internal_notes"]

[tables."public.announcements"]
public = true
never_send = ["author_email"]
TOML

server_env
export RTCACHE_PG_CONNINFO=$conninfo
export RTCACHE_CONFIG=$config

"$bin" check-config "$config" >"$work/check-config.log" 2>&1 || { cat "$work/check-config.log" >&2; fail_setup "check-config refused $config"; }

server_start serve -c "$config"

# Ready means: /readyz answers and the source is streaming (the slot and publication exist from here on, so
# every commit after this point reaches the hub).
streaming() {
  curl -fsS --max-time 1 "$RTCACHE_URL/metrics" 2>/dev/null | grep -qx 'rtcache_replication_connected 1'
}
server_wait_ready "${READY_SECONDS:-30}" "ready and streaming" streaming || fail_setup "$server_error"
echo "compat-pg: rtcache serve -c ready on $RTCACHE_LISTEN, replicating from $conninfo ($bin)"

rc=0
(cd tests/compat && npx --no-install vitest run --config vitest.pg.config.mjs --reporter=default --reporter=json \
  --outputFile.json="$work/results.json" "$@") || rc=$?

read -r passed failed skipped < <(vitest_counts "$work/results.json" "$rc")
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "compat-pg: no test ran" >&2; fi
if [ "$failed" -ne 0 ]; then
  echo "compat-pg: server log (last 40 lines of $server_log):"
  tail -n 40 "$server_log" || true
fi
report "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
