#!/usr/bin/env bash
# Quick start, part 1: set up, build, start redis-server with SlotGuard on 127.0.0.1:$SG_DEMO_PORT
# (default 6390) using examples/redis.conf, and walk through a short enrollment.
# The server keeps running afterwards: redis-cli -p 6390 shutdown nosave
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
port=${SG_DEMO_PORT:-6390}
dir=${SG_DEMO_DIR:-/tmp/slotguard-demo-$port}

./scripts/setup.sh
make -s

cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
if cli ping >/dev/null 2>&1; then
  if cli module list 2>/dev/null | grep -q slotguard; then
    echo "demo: stopping the previous demo server on port $port"
    cli shutdown nosave >/dev/null 2>&1 || true
    sleep 0.5
  else
    echo "demo: port $port is taken by another server; set SG_DEMO_PORT" >&2
    exit 1
  fi
fi

mkdir -p "$dir"
# The example configuration, pointed at the module just built.
sed "s|^loadmodule .*|loadmodule $top/module/slotguard.so|" examples/redis.conf > "$dir/redis.conf"
redis-server "$dir/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$dir" \
  --daemonize yes --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
for _ in $(seq 50); do cli ping >/dev/null 2>&1 && break; sleep 0.1; done

run() { printf '> %s\n' "$*"; cli "$@" | sed 's/^/  /'; }
echo "== SlotGuard demo on 127.0.0.1:$port (data in $dir)"
cli del trial:demo >/dev/null
run SLOTS.INIT trial:demo 3 WAITLIST 2
run ENROLL trial:demo alice
run ENROLL trial:demo bob
run ENROLL trial:demo carol
echo "# full: dave goes on the waitlist, erin too, frank finds no room"
run ENROLL trial:demo dave
run ENROLL trial:demo erin
run ENROLL trial:demo frank
echo "# a retry never takes a second slot"
run ENROLL trial:demo alice
run ENROLL.STATUS trial:demo carol
run ENROLL.STATUS trial:demo erin
echo "# bob withdraws: dave, first on the waitlist, is enrolled in the same step"
run ENROLL.CANCEL trial:demo bob
run ENROLL.STATUS trial:demo dave
run SLOTS.INFO trial:demo
run ENROLL.MEMBERS trial:demo 0 COUNT 10 WITHARRIVALS
echo "== done; the server keeps running: redis-cli -p $port  (stop: redis-cli -p $port shutdown nosave)"
