# shellcheck shell=bash disable=SC2154,SC2034  # the caller sets root and reads what this sets
# Sourced by scripts/compat-pg.sh and scripts/compat-cluster.sh as `. scripts/lib/compat.sh PHASE COUNTS_FILE`,
# from the checkout: what a compat phase against a disposable PostgreSQL does whatever servers it runs: the tools
# it needs, its work directory and the cluster's (destroyed on exit, also on failure), `npm ci`, PostgreSQL
# started with the mapped table, the vitest run and its counts. Brings in scripts/lib/server.sh and
# scripts/lib/stack.sh.
#   PHASE        the name its messages start with and its temp directories are named for (compat-pg, ...)
#   COUNTS_FILE  where report also writes "passed failed skipped" (empty: nowhere)
# The caller sets root (the checkout) and defines compat_stop_servers RC, which the exit trap runs first (with
# $work and $pg_dir set).
phase=$1
counts_file=${2:-}
# shellcheck source-path=SCRIPTDIR source-path=SCRIPTDIR/.. source=lib/server.sh
. scripts/lib/server.sh
# shellcheck source-path=SCRIPTDIR source-path=SCRIPTDIR/.. source=lib/stack.sh
. scripts/lib/stack.sh

# report PASSED FAILED SKIPPED: the phase's last line, and its counts for scripts/compat.sh.
report() {
  echo "$phase: $1 passed, $2 failed, $3 skipped"
  if [ -n "$counts_file" ]; then echo "$1 $2 $3" >"$counts_file"; fi
}

# fail_setup MESSAGE...: the phase could not start its tests; counted as one failure, never a skip.
fail_setup() {
  echo "$phase: $*" >&2
  report 0 1 0
  exit 1
}

# compat_tools: sets bin (the server binary: RTCACHE_BIN, relative to the checkout, by default the release build)
# and psql_bin, or fails the setup naming what is missing.
compat_tools() {
  bin=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
  case $bin in /*) ;; *) bin=$root/$bin ;; esac
  [ -x "$bin" ] || fail_setup "no server binary at $bin (build it, or set RTCACHE_BIN)"
  { command -v node && command -v npm; } >/dev/null || fail_setup "node and npm are required (Node 20+)"
  psql_bin=$(find_psql) || fail_setup "psql not found (apt-get install postgresql-client)"
}

# compat_begin: makes $work (logs, config, the servers' pid files; kept when the phase fails) and $pg_dir (the
# PostgreSQL cluster's own directory: as root, pg_cluster.sh hands it to the postgres OS user, who must be able to
# reach it, and a 0700 parent owned by root would not do), and sets the traps that clean both up.
compat_begin() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-$phase.XXXXXX")
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/rtcache-$phase-pg.XXXXXX")
  trap compat_on_exit EXIT
  trap 'exit 130' INT TERM
}

compat_on_exit() {
  local rc=$?
  compat_stop_servers "$rc"
  if [ "$rc" -ne 0 ]; then cp "$pg_dir/postgres.log" "$work/" 2>/dev/null || true; fi
  scripts/pg_cluster.sh destroy "$pg_dir" >/dev/null 2>&1 || rm -rf "$pg_dir"
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "$phase: logs kept in $work" >&2; fi
}

# compat_npm_ci: tests/compat's dependencies exactly as locked, unless COMPAT_NO_NPM_CI=1 (scripts/compat.sh
# already ran it).
compat_npm_ci() {
  if [ "${COMPAT_NO_NPM_CI:-0}" != 1 ]; then
    (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1) || {
      tail -n 40 "$work/npm.log"
      fail_setup "npm ci failed"
    }
  fi
}

# compat_postgres [SQL]: a fresh PostgreSQL cluster in $pg_dir on a free port, its conninfo in $conninfo, with
# the mapped table public.work_orders (factory, version, status, a never_send column) and then SQL, if given.
# REPLICA IDENTITY FULL so updates carry changedKeys/patch and deletes carry the whole old row.
compat_postgres() {
  scripts/pg_cluster.sh start "$pg_dir" >"$work/pg_cluster.log" 2>&1 || {
    cat "$work/pg_cluster.log" >&2
    fail_setup "PostgreSQL did not start (scripts/pg_cluster.sh start $pg_dir)"
  }
  conninfo=$(scripts/pg_cluster.sh conninfo "$pg_dir")
  "$psql_bin" "$conninfo" -q -v ON_ERROR_STOP=1 >"$work/schema.log" 2>&1 <<SQL || { cat "$work/schema.log" >&2; fail_setup "creating the tables failed"; }
CREATE TABLE public.work_orders (
  id text PRIMARY KEY,
  factory_id text NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  status text NOT NULL DEFAULT 'open',
  qty integer NOT NULL DEFAULT 0,
  internal_notes text
);
ALTER TABLE public.work_orders REPLICA IDENTITY FULL;
${1:-}
SQL
}

# compat_check_config FILE: `rtcache check-config FILE` accepts it, or the setup fails with its output.
compat_check_config() {
  "$bin" check-config "$1" >"$work/check-config.log" 2>&1 || { cat "$work/check-config.log" >&2; fail_setup "check-config refused $1"; }
}

# compat_vitest CONFIG ARGS...: runs tests/compat's vitest with CONFIG (and ARGS) and sets passed, failed and
# skipped from its JSON report; a run in which no test ran counts as one failure.
compat_vitest() {
  local config=$1 rc=0
  shift
  (cd tests/compat && npx --no-install vitest run --config "$config" --reporter=default --reporter=json \
    --outputFile.json="$work/results.json" "$@") || rc=$?
  read -r passed failed skipped < <(vitest_counts "$work/results.json" "$rc")
  if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "$phase: no test ran" >&2; fi
}

# metric_is URL NAME VALUE: the server at URL answers /metrics with the unlabelled sample "NAME VALUE".
metric_is() {
  curl -fsS --max-time 1 "$1/metrics" 2>/dev/null | grep -qx "$2 $3"
}
