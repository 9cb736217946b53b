#!/usr/bin/env bash
# The Debian package and the C++ SDK's CMake package as an operator and an SDK user meet them (issue 15).
# Builds the .deb from the release build (scripts/package.sh), inspects it (dpkg-deb --info/--contents,
# conffiles, maintainer scripts, lintian when installed), unpacks it into a scratch root (dpkg -x), checks that
# its dependencies resolve from this Debian 12's apt (apt-get --simulate), runs the unpacked binary
# (--version, check-config of the shipped config with the env file's secret set, serve: /metrics names the
# build, SIGHUP is harmless, SIGTERM exits 0), verifies the systemd unit (systemd-analyze verify, security),
# the man page against every --help; then installs the SDK component into a scratch prefix and builds and runs
# a project that finds it with find_package(rtcache). Ends with "package: N passed, M failed".
#   scripts/package-test.sh          (scripts/test.sh runs it after the release build)
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build="$src/build/release"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
# check NAME COMMAND...: one counted check; its output is shown only when it fails. COMMAND runs in a subshell
# with errexit, so any failing step fails the check (not only the last one). It must not be the operand of
# `if`, `||` or `&&`, where bash ignores errexit.
check() {
  local name=$1
  shift
  local out="$tmp/check.out"
  (
    set -e
    "$@"
  ) >"$out" 2>&1
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$out" | tail -n 40
  fi
}
finish() {
  echo "package: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
fail() {
  echo "$*" >&2
  return 1
}
# has FILE PATTERN: FILE has a line matching the extended regex PATTERN.
has() { grep -Eq -- "$2" "$1" || fail "$1 has no line matching: $2"; }
lacks() { ! grep -Eq -- "$2" "$1" || fail "$1 has a line matching: $2 ($(grep -Em1 -- "$2" "$1"))"; }

# --- the package ----------------------------------------------------------------------------------------------
deb=""
if scripts/package.sh >"$tmp/package.log" 2>&1; then deb=$(realpath "$(tail -n 1 "$tmp/package.log")"); fi
package_built() { [ -f "$deb" ] || { tail -n 30 "$tmp/package.log"; fail "no package"; }; }
check "the package target writes rtcache_<version>-<revision>_<arch>.deb" package_built
[ -f "$deb" ] || finish

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
debian_version="$version-$(sed -n 's/^RTCACHE_DEBIAN_REVISION:STRING=//p' "$build/CMakeCache.txt")"
arch=$(dpkg --print-architecture)
dpkg-deb --info "$deb" >"$tmp/info"
dpkg-deb --contents "$deb" >"$tmp/contents"
dpkg-deb --ctrl-tarfile "$deb" | tar -t >"$tmp/control-files"
mkdir -p "$tmp/control" && dpkg-deb --control "$deb" "$tmp/control"

control_fields() {
  [ "$(basename "$deb")" = "rtcache_${debian_version}_${arch}.deb" ] || fail "file name $(basename "$deb")"
  [ "$(dpkg-deb -f "$deb" Package)" = rtcache ] || fail "Package: $(dpkg-deb -f "$deb" Package)"
  [ "$(dpkg-deb -f "$deb" Version)" = "$debian_version" ] || fail "Version: $(dpkg-deb -f "$deb" Version) != $debian_version"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture: $(dpkg-deb -f "$deb" Architecture)"
  [ -n "$(dpkg-deb -f "$deb" Maintainer)" ] || fail "no Maintainer"
  [ -n "$(dpkg-deb -f "$deb" Description)" ] || fail "no Description"
  local depends
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "Depends: $depends"
  # dpkg-shlibdeps found the shared libraries the binary links (libc, libstdc++, OpenSSL, libpq...).
  for lib in adduser libc6 libstdc++6 libssl3 libpq5; do
    grep -Eq "(^|, )${lib//+/\\+}( |,|\$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
  done
}
check "control: name, version, architecture, maintainer, shlibdeps Depends" control_fields

conffiles_listed() {
  has "$tmp/control/conffiles" '^/etc/rtcache/rtcache\.toml$'
  has "$tmp/control/conffiles" '^/etc/rtcache/rtcache\.env$'
  for script in postinst prerm postrm; do
    [ -x "$tmp/control/$script" ] || fail "$script missing or not executable"
    sh -n "$tmp/control/$script" || fail "$script: syntax error"
  done
  has "$tmp/control/postinst" 'adduser --system --group .*rtcache'
}
check "control: conffiles list /etc/rtcache, maintainer scripts create the user" conffiles_listed

contents() {
  has "$tmp/contents" '^-rwxr-xr-x root/root .* \./usr/bin/rtcache$'
  has "$tmp/contents" '^-rw-r--r-- root/root .* \./lib/systemd/system/rtcache\.service$'
  has "$tmp/contents" '^-rw-r--r-- root/root .* \./etc/rtcache/rtcache\.toml$'
  has "$tmp/contents" '^-rw------- root/root .* \./etc/rtcache/rtcache\.env$'
  has "$tmp/contents" ' \./usr/share/man/man1/rtcache\.1\.gz$'
  has "$tmp/contents" ' \./usr/share/doc/rtcache/copyright$'
  has "$tmp/contents" ' \./usr/share/doc/rtcache/changelog\.Debian\.gz$'
  has "$tmp/contents" ' \./usr/share/doc/rtcache/examples/rtcache\.example\.toml$'
  has "$tmp/contents" ' \./usr/share/lintian/overrides/rtcache$'
  has "$tmp/contents" '^-rw-r--r-- root/root .* \./usr/share/rtcache/grafana/rtcache\.json$'
  has "$tmp/contents" '^-rw-r--r-- root/root .* \./usr/share/rtcache/prometheus/alerts\.yml$'
  # The server package carries no SDK: no headers, static libraries or CMake files.
  lacks "$tmp/contents" '/include/|\.a$|/cmake/'
}
check "contents: binary, unit, conffiles (env root-only), man page, copyright, changelog, dashboard, alerts; no SDK" contents

deps_resolve() {
  grep -q 'VERSION_ID="12"' /etc/os-release || fail "not Debian 12: $(grep PRETTY_NAME /etc/os-release)"
  # apt resolves the .deb's Depends against this machine's Debian 12 sources and installed packages.
  apt-get install --simulate --no-install-recommends "$deb" >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log"; return 1; }
  has "$tmp/apt.log" '^Inst rtcache '
}
check "Depends resolve from Debian 12 (apt-get install --simulate)" deps_resolve

changelog() {
  local v
  v=$(gzip -dc "$build/deploy/changelog.Debian.gz" | dpkg-parsechangelog -l - -S Version)
  [ "$v" = "$debian_version" ] || fail "changelog.Debian.gz's top entry is $v, the package is $debian_version: add an entry to deploy/debian/changelog"
}
check "changelog.Debian.gz's top entry is this version" changelog

if command -v lintian >/dev/null; then
  run_lintian() {
    lintian --tag-display-limit 0 "$deb" >"$tmp/lintian.log" 2>&1 || true  # judged by its tags below
    cat "$tmp/lintian.log"
    lacks "$tmp/lintian.log" '^[EW]: '
  }
  check "lintian reports no error or warning" run_lintian
else
  echo "skip lintian (not installed)"
fi

# --- unpacked into a scratch root ------------------------------------------------------------------------------
root="$tmp/root"
dpkg -x "$deb" "$root"
bin="$root/usr/bin/rtcache"

expected_commit() {
  local top head
  top=$(git -C "$src" rev-parse --show-toplevel 2>/dev/null) || { echo unknown; return; }
  [ "$(realpath "$top")" = "$(realpath "$src")" ] || { echo unknown; return; }
  head=$(git -C "$src" rev-parse --short=12 HEAD) || { echo unknown; return; }
  [ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] || head="$head-dirty"
  echo "$head"
}
commit=$(expected_commit)

version_line() {
  local out
  out=$("$bin" --version) || fail "--version exited $?"
  echo "$out"
  [ "$out" = "rtcache $version (commit $commit, Release build)" ] || fail "expected: rtcache $version (commit $commit, Release build)"
}
check "rtcache --version names the version, the commit and the build type" version_line

secret="package-test-secret-0123456789abcdef"
shipped_config() {
  # The env file as shipped sets nothing (every line a comment): the operator adds the secret.
  lacks "$root/etc/rtcache/rtcache.env" '^[^#[:space:]]'
  has "$root/etc/rtcache/rtcache.env" '^#RTCACHE_JWT_SECRET='
  # Without the secret the shipped config refuses to serve, and says what to set.
  local rc=0
  env -i PATH="$PATH" "$bin" check-config "$root/etc/rtcache/rtcache.toml" >"$tmp/no-secret.log" 2>&1 || rc=$?
  cat "$tmp/no-secret.log"
  [ "$rc" -eq 2 ] || fail "check-config without a secret exited $rc, expected 2"
  has "$tmp/no-secret.log" 'RTCACHE_JWT_SECRET'
  # With the env file as the operator completes it (the secret line uncommented), it passes.
  sed "s/^#RTCACHE_JWT_SECRET=.*/RTCACHE_JWT_SECRET=$secret/" "$root/etc/rtcache/rtcache.env" >"$tmp/rtcache.env"
  env -i PATH="$PATH" bash -c 'set -a; . "$1"; exec "$2" check-config "$3"' _ "$tmp/rtcache.env" "$bin" \
    "$root/etc/rtcache/rtcache.toml" >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log"; return 1; }
  cat "$tmp/check.log"
  has "$tmp/check.log" "^ok: .*rtcache\.toml \(listen 127\.0\.0\.1:4000, tls off, threads auto, tables 0, postgres off\)$"
}
check "check-config passes on the shipped config with the env file's secret, refuses without" shipped_config

# get PORT PATH: the body of an HTTP GET on loopback.
get() { curl -fsS --max-time 5 "http://127.0.0.1:$1$2"; }
serve_unpacked() {
  env -i PATH="$PATH" bash -c 'set -a; . "$1"; exec "$2" serve --config "$3" --listen 127.0.0.1:0 --threads 1' _ \
    "$tmp/rtcache.env" "$bin" "$root/etc/rtcache/rtcache.toml" >"$tmp/serve.log" 2>&1 &
  local server_pid=$!
  # shellcheck disable=SC2064 # the pid is known now; the check's subshell runs this when it exits
  trap "kill $server_pid 2>/dev/null || true" EXIT
  local port="" i
  for i in $(seq 1 100); do
    port=$(sed -n 's/.*event=gateway.listening .*port=\([0-9]*\).*/\1/p' "$tmp/serve.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$tmp/serve.log"; fail "the server did not report its port"; }
  get "$port" /metrics >"$tmp/metrics" || fail "GET /metrics failed"
  has "$tmp/metrics" "^rtcache_build_info\{commit=\"$commit\",version=\"$version\"\} 1$"
  # The shipped dashboard and alert rules parse, and query only metrics this server exports. The replication
  # gauges exist only with a PostgreSQL source; the gateway suite's Monitoring tests check those against a full
  # exposition.
  /usr/bin/python3 - "$root/usr/share/rtcache/grafana/rtcache.json" "$root/usr/share/rtcache/prometheus/alerts.yml" \
    "$tmp/metrics" <<'PY' || fail "the dashboard or the alert rules query metrics /metrics does not export"
import json, re, sys, yaml
dashboard = json.load(open(sys.argv[1]))
rules = yaml.safe_load(open(sys.argv[2]))
assert dashboard["panels"], "no panels"
alerts = [r for g in rules["groups"] for r in g["rules"]]
for r in alerts:
    assert r["expr"] and r["for"] and r["labels"]["severity"] and r["annotations"]["summary"], r["alert"]
exported = {l.split("{")[0].split(" ")[0] for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")}
source_only = {"rtcache_replication_" + n for n in
               ("connected", "received_lsn", "confirmed_lsn", "lag_bytes", "lag_seconds", "reconnects_total",
                "reader", "reader_starts_total", "sink_stalls_total")} | {"rtcache_source_gaps_total"}
queries = json.dumps(dashboard) + "\n".join(r["expr"] for r in alerts)
missing = sorted(set(re.findall(r"rtcache_[a-z0-9_]+", queries)) - exported - source_only)
if missing:
    sys.exit("not exported: " + ", ".join(missing))
PY
  # SIGHUP (systemctl reload): logged, and the server goes on serving.
  kill -HUP "$server_pid"
  for i in $(seq 1 50); do grep -q 'event=signal signo=1' "$tmp/serve.log" && break; sleep 0.1; done
  has "$tmp/serve.log" 'event=signal signo=1 '
  kill -0 "$server_pid" 2>/dev/null || fail "SIGHUP killed the server"
  get "$port" /readyz || fail "not ready after SIGHUP"
  # SIGTERM (systemctl stop): drains and exits 0.
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$tmp/serve.log"; fail "exit status $rc after SIGTERM"; }
  has "$tmp/serve.log" 'event=serve.stopped'
}
check "the unpacked server serves the shipped config: /metrics build info and every metric the dashboard and alerts query, SIGHUP harmless, SIGTERM exits 0" serve_unpacked

unit() {
  local u="$root/lib/systemd/system/rtcache.service"
  for line in 'User=rtcache' 'Group=rtcache' 'EnvironmentFile=-/etc/rtcache/rtcache.env' \
    'ExecStart=/usr/bin/rtcache serve --config /etc/rtcache/rtcache.toml' 'ExecReload=/bin/kill -HUP \$MAINPID' \
    'Restart=on-failure' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
    'PrivateDevices=yes' 'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' \
    'ProtectControlGroups=yes' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'RestrictNamespaces=yes' \
    'LockPersonality=yes' 'MemoryDenyWriteExecute=yes' 'SystemCallFilter=@system-service' 'CapabilityBoundingSet=' \
    'LimitNOFILE=[0-9]+' 'StateDirectory=rtcache' 'ConfigurationDirectory=rtcache'; do
    has "$u" "^$line\$"
  done
  if command -v systemd-analyze >/dev/null; then
    # verify resolves ExecStart on this host: point it at the unpacked binary in a copy of the unit.
    mkdir -p "$tmp/unit"
    sed "s#/usr/bin/rtcache#$bin#" "$u" >"$tmp/unit/rtcache.service"
    systemd-analyze verify --man=no "$tmp/unit/rtcache.service" >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log"; return 1; }
    [ ! -s "$tmp/verify.log" ] || { cat "$tmp/verify.log"; fail "systemd-analyze verify printed warnings"; }
    systemd-analyze security --offline=true "$u" >"$tmp/security.log" 2>&1
    local exposure
    exposure=$(sed -n 's/.*Overall exposure level for rtcache.service: \([0-9.]*\).*/\1/p' "$tmp/security.log")
    echo "systemd-analyze security: exposure $exposure"
    [ -n "$exposure" ] || { cat "$tmp/security.log"; fail "no exposure level"; }
    awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure > 2.0"
  fi
}
check "rtcache.service: own user, hardening, reload; systemd-analyze verify and security (exposure <= 2.0)" unit

man_page() {
  local man="$tmp/rtcache.1"
  gzip -dc "$root/usr/share/man/man1/rtcache.1.gz" >"$man"
  groff -man -ww -z "$man" >"$tmp/groff.log" 2>&1 || { cat "$tmp/groff.log"; return 1; }
  [ ! -s "$tmp/groff.log" ] || { cat "$tmp/groff.log"; fail "groff warnings"; }
  has "$man" "^\.TH RTCACHE 1 .*\"rtcache $version\""
  # Every option, subcommand and variable the help names is in the man page (as roff writes it: \- for -).
  local help words w
  help=$("$bin" --help; "$bin" serve --help; "$bin" check-config --help)
  words=$(grep -oE -- '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*|RTCACHE_[A-Z_]+|^  (serve|check-config) ' <<<"$help" |
    sed -E 's/^[ ,]+//; s/ +$//' | sort -u)
  [ "$(wc -l <<<"$words")" -ge 15 ] || fail "too few words read from --help: $words"
  for w in $words; do
    grep -qF -- "$(sed 's/-/\\-/g' <<<"$w")" "$man" || fail "the man page does not mention $w (from --help)"
  done
}
check "rtcache.1 renders without warnings and covers every option and variable of --help" man_page

build_info_without_git() {
  # A source tree without .git (a release tarball) and one unpacked inside another repository report
  # "unknown"; RTCACHE_GIT_COMMIT overrides.
  local gen=(-DTEMPLATE="$src/cmake/build_info.cpp.in" -DVERSION=9.9.9 -DBUILD_TYPE=Release
    -DGIT_EXECUTABLE="$(command -v git)" -P "$src/cmake/rtcache_build_info_gen.cmake")
  mkdir -p "$tmp/tarball" "$tmp/repo/vendor/rtcache"
  cmake -DSOURCE_DIR="$tmp/tarball" -DOUTPUT="$tmp/a.cpp" "${gen[@]}" || return 1
  has "$tmp/a.cpp" '\{"9\.9\.9", "unknown", "Release"\}'
  git init -q "$tmp/repo" && git -C "$tmp/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m x
  cmake -DSOURCE_DIR="$tmp/repo/vendor/rtcache" -DOUTPUT="$tmp/b.cpp" "${gen[@]}" || return 1
  has "$tmp/b.cpp" '"unknown"'
  cmake -DSOURCE_DIR="$tmp/repo" -DOUTPUT="$tmp/c.cpp" "${gen[@]}" || return 1
  has "$tmp/c.cpp" "\"$(git -C "$tmp/repo" rev-parse --short=12 HEAD)\""
  cmake -DSOURCE_DIR="$tmp/tarball" -DOUTPUT="$tmp/d.cpp" -DCOMMIT=0123abcd "${gen[@]}" || return 1
  has "$tmp/d.cpp" '"0123abcd"'
}
check "the build's commit: git HEAD, else 'unknown' (tarball, foreign repository), or RTCACHE_GIT_COMMIT" build_info_without_git

# --- the C++ SDK ---------------------------------------------------------------------------------------------
sdk="$tmp/sdk"
sdk_install() {
  cmake --install "$build" --component sdk --prefix "$sdk" || return 1
  local f
  for f in include/rtcache/core/event_codec.hpp include/rtcache/client/realtime_client.hpp \
    lib/librtcache_core.a lib/librtcache_client.a lib/cmake/rtcache/rtcacheConfig.cmake \
    lib/cmake/rtcache/rtcacheConfigVersion.cmake lib/cmake/rtcache/rtcacheTargets.cmake; do
    [ -f "$sdk/$f" ] || fail "SDK install lacks $f"
  done
  # The SDK only: no server headers, no binary, nothing under /etc.
  [ ! -e "$sdk/include/rtcache/pg" ] && [ ! -e "$sdk/bin" ] && [ ! -e "$sdk/etc" ] || fail "server files in the SDK install: $(ls "$sdk")"
}
check "cmake --install --component sdk: headers, static libraries, rtcacheConfig.cmake; no server files" sdk_install

sdk_consumer() {
  local launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  cmake -S "$src/tests/package/sdk_consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$sdk" "${launcher[@]}" || return 1
  cmake --build "$tmp/consumer" || return 1
  "$tmp/consumer/sdk_consumer" | tee "$tmp/consumer.log" || return 1
  has "$tmp/consumer.log" '^sdk-consumer: ok '
}
check "a scratch project finds the SDK with find_package(rtcache), links rtcache::client and runs" sdk_consumer

finish
