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
# shellcheck source-path=SCRIPTDIR source=lib/compat.sh
. scripts/lib/compat.sh compat-pg "${COMPAT_PG_COUNTS:-}"

compat_stop_servers() { server_stop; }
compat_tools
compat_begin
pid_file=$work/server.pid
server_log=$work/server.log
compat_npm_ci

# PostgreSQL: a fresh cluster on a free port. The schema: the mapped table (scripts/lib/compat.sh), a public
# table and an unmapped one.
compat_postgres "
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
ALTER TABLE public.audit_log REPLICA IDENTITY FULL;"

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

compat_check_config "$config"

server_start serve -c "$config"

# Ready means: /readyz answers and the source is streaming (the slot and publication exist from here on, so
# every commit after this point reaches the hub).
server_wait_ready "${READY_SECONDS:-30}" "ready and streaming" metric_is "$RTCACHE_URL" rtcache_replication_connected 1 ||
  fail_setup "$server_error"
echo "compat-pg: rtcache serve -c ready on $RTCACHE_LISTEN, replicating from $conninfo ($bin)"

compat_vitest vitest.pg.config.mjs "$@"
if [ "$failed" -ne 0 ]; then
  echo "compat-pg: server log (last 40 lines of $server_log):"
  tail -n 40 "$server_log" || true
fi
report "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
