#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test rtcache. Idempotent and quiet:
# it asks apt only for packages that are missing and prints one line per action.
#   scripts/setup.sh          what the demo needs
#   scripts/setup.sh --test   plus what only the test command needs (Chromium)
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  clang-14 libclang-rt-14-dev             # the sanitizer presets and libFuzzer targets
  libgtest-dev libgmock-dev libbenchmark-dev
  libsimdjson-dev                         # event codec
  libboost1.81-dev libboost-json1.81-dev  # result<T>, Asio/Beast; Boost.JSON in protocol and tests
  libboost-url1.81-dev                    # gateway: request targets and query strings
  libtomlplusplus-dev                     # mapping and server config
  libssl-dev                              # JWT signatures (OpenSSL EVP), JWKS over TLS (libssl)
  prometheus-cpp-dev                      # GET /metrics: prometheus-cpp's core registry and text serializer
  libcli11-dev libspdlog-dev libfmt-dev   # the rtcache binary: subcommands and logs
  curl openssl                            # demo script: posts events, signs demo tokens
  libpq-dev                               # the PostgreSQL replication source and the demo API
  postgresql                              # PostgreSQL 15 for integration tests, benches and the demo
  nats-server libnats-dev                 # the cluster: NATS JetStream server (2.9) and its C client (nats.c 3.4)
  dpkg-dev                                # the Debian package: dpkg-shlibdeps computes its Depends
)
# The test command also needs a browser for the end-to-end suite (playwright-core drives Debian's Chromium),
# the package test renders the man page (groff) and verifies the systemd unit (systemd-analyze), and the
# Supabase guide's test runs its reverse-proxy snippet in nginx (its own config and process, not the service);
# the package test parses the shipped alert rules with PyYAML.
if [ "${1:-}" = "--test" ]; then packages+=(chromium groff-base systemd nginx python3-yaml); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log"
    echo "setup: apt-get failed (log above)" >&2
    exit 1
  fi
  rm -f "$log"
else
  echo "setup: all build and test packages present"
fi

# Node 20 and npm run the compatibility suite (tests/compat installs its pinned packages with npm ci).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: node and npm are missing; installing Debian's nodejs and npm"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
