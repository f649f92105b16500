#!/usr/bin/env bash
# Installs what SlotGuard needs on a Debian bookworm machine (run as root) and fetches
# redismodule.h from Debian's redis source package matching the installed redis-server.
# Idempotent: when everything is already present it does nothing and returns quickly.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps_dir="$top/.deps"
header="$deps_dir/include/redismodule.h"
# gnuplot-nox draws the benchmark charts, valgrind counts their instructions (make bench) and runs
# the servers under memcheck (make valgrind-test); clang and its runtimes (libFuzzer) build the
# fuzzing harnesses (make fuzz).
packages=(build-essential pkg-config dpkg-dev redis-server redis-tools libhiredis-dev libcmocka-dev gnuplot-nox valgrind
          clang libclang-rt-14-dev)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

need_source=0
[ -s "$header" ] || need_source=1

if [ ${#missing[@]} -gt 0 ] || [ $need_source -eq 1 ]; then
  # A deb-src entry for the same suites as the binary packages, so `apt-get source` works.
  if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    as_root tee /etc/apt/sources.list.d/slotguard-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  as_root apt-get update -qq
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The distribution's init scripts may start a redis-server on 6379; SlotGuard never needs it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q redis-server 2>/dev/null; then
  as_root systemctl stop redis-server || true
fi

if [ $need_source -eq 1 ]; then
  version=$(dpkg-query -W -f='${Version}' redis-server)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "setup: fetching redis source $version for redismodule.h"
  (cd "$work" && apt-get source -qq --download-only "redis=$version" >/dev/null &&
     dpkg-source -q --no-check -x ./*.dsc src >/dev/null)
  mkdir -p "$deps_dir/include"
  cp "$work/src/src/redismodule.h" "$header"
  echo "$version" > "$deps_dir/include/REDIS_VERSION"
fi

echo "setup: ready (redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), redismodule.h from $(cat "$deps_dir/include/REDIS_VERSION"))"
