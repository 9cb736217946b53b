# shellcheck shell=bash
# Sourced by scripts/demo.sh, scripts/cluster.sh, the cluster script's test, scripts/compat-pg.sh,
# scripts/compat-cluster.sh and scripts/supabase-doc-test.sh: what a script that runs a local stack (PostgreSQL,
# rtcache, ...) needs besides starting it.

# find_psql: prints the path of psql (on PATH, else Debian's /usr/lib/postgresql/<version>/bin); fails when there
# is none.
find_psql() {
  local v
  if command -v psql; then return 0; fi
  for v in 15 16 17 14; do
    if [ -x "/usr/lib/postgresql/$v/bin/psql" ]; then echo "/usr/lib/postgresql/$v/bin/psql"; return 0; fi
  done
  return 1
}

# pg_data_dir STATE_DIR NAME KEY: where the PostgreSQL cluster of STATE_DIR lives. STATE_DIR/pg, unless running
# as root in a checkout the postgres OS user cannot reach (scripts/pg_cluster.sh runs PostgreSQL as that user;
# below a 0700 directory such as /root or a mktemp -d clone it cannot): then /var/tmp/rtcache-NAME-<hash of KEY>/pg
# (created), so a second run with the same KEY finds it again.
pg_data_dir() {
  local state=$1 name=$2 key=$3
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$state" 2>/dev/null; then
    local home
    home="/var/tmp/rtcache-$name-$(printf %s "$key" | md5sum | cut -c1-12)"
    mkdir -p "$home" && chmod 755 "$home"
    echo "$home/pg"
  else
    echo "$state/pg"
  fi
}

# sign_jwt SECRET CLAIMS_JSON: an HS256 token over CLAIMS_JSON signed with SECRET (as rtcache verifies it).
sign_jwt() {
  local secret=$1 header payload sig
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | _b64url)
  payload=$(printf '%s' "$2" | _b64url)
  sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | _b64url)
  printf '%s.%s.%s' "$header" "$payload" "$sig"
}
_b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# secret_file FILE: prints the 32 random bytes (hex) kept in FILE, made on the first call.
secret_file() {
  [ -s "$1" ] || { (umask 077; openssl rand -hex 32 >"$1"); }
  cat "$1"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_docs_config FILE: the cluster benchmarks' config, [postgres] over their own table bench_docs (documents
# dK, factory_id, version the only patch column) through the slot and publication rtcache_bench.
bench_docs_config() {
  cat >"$1" <<'TOML'
doc_types = ["wo"]

[postgres]
slot = "rtcache_bench"
publication = "rtcache_bench"
create_publication = false

[tables."public.bench_docs"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
patch = ["version"]
TOML
}

# cluster_bench_args NAME ARGS...: the start the cluster benchmarks share (bench/cluster/idle.sh, latency.sh, storm.sh).
# `--quick` sets quick=1, anything else is a usage error; RTCACHE_BIN (exported) and load_bin default to the
# release build under $root, and both must be built.
# shellcheck disable=SC2034  # quick and load_bin are the caller's
cluster_bench_args() {
  local name=$1 a b
  shift
  quick=0
  for a in "$@"; do
    case "$a" in
      --quick) quick=1 ;;
      *) echo "usage: $name [--quick]" >&2; exit 2 ;;
    esac
  done
  export RTCACHE_BIN=${RTCACHE_BIN:-$root/build/release/src/main/rtcache}
  load_bin=${RTCACHE_LOAD_BIN:-$root/build/release/bench/load/rtcache_load}
  for b in "$RTCACHE_BIN" "$load_bin"; do
    [ -x "$b" ] || {
      echo "$name: $b not built (cmake --preset release && cmake --build --preset release --target rtcache rtcache_load)" >&2
      exit 2
    }
  done
}
