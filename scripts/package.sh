#!/usr/bin/env bash
# Builds the Debian package of the server from the release build (configured first when missing):
#   scripts/package.sh        -> build/release/rtcache_<version>-<revision>_<arch>.deb (its path is the last line)
# The same as `cmake --build --preset release --target package`, which builds the release tree first.
# Needs dpkg-dev (dpkg-shlibdeps computes the dependencies); scripts/setup.sh installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f build/release/CMakeCache.txt ]; then cmake --preset release; fi
cmake --build --preset release -j"$(nproc)" --target package
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' build/release/CMakeCache.txt)
revision=$(sed -n 's/^RTCACHE_DEBIAN_REVISION:STRING=//p' build/release/CMakeCache.txt)
deb="build/release/rtcache_${version}-${revision}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { echo "package: $deb was not written" >&2; exit 1; }
echo "$deb"
