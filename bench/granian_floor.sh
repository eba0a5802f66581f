#!/usr/bin/env bash
# CPU per request of the server stack without the stats work, under granian
# (3 workers × 1 thread, as bench/server.sh), wrk 12 connections, 8 KB POST:
#   bench/granian_floor.sh [seconds]
# 1. bench/bare_wsgi.py: granian alone; 2. /v1/bench/noop: through Django's
# lean SDK handler (api/ingest/handler.py). The gap is what the bare stats
# lane (api/ingest/stats_wsgi.py) saves. Prints requests/s and the CPU
# seconds of the granian process tree per request. 127.0.0.1 only.
set -euo pipefail
SECONDS_RUN="${1:-10}"
source "$(dirname "$0")/server.sh"
LUA="$(mktemp --suffix .lua)"
trap 'bench_stop; rm -f "$LUA"' EXIT
printf 'wrk.method = "POST"\nwrk.body = string.rep("x", 8000)\nwrk.headers["Content-Type"] = "text/plain"\n' >"$LUA"

tree_cpu() {  # CPU ticks of a process and all its descendants
  local pid=$1 total=0 child
  total=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    total=$((total + $(tree_cpu "$child")))
  done
  echo "$total"
}

measure() {  # name pid url
  local before after out requests
  before=$(tree_cpu "$2")
  out=$(wrk -t1 -c12 -d"${SECONDS_RUN}s" -s "$LUA" "$3")
  after=$(tree_cpu "$2")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$1: $(echo "$out" | awk '/Requests\/sec/ {print $2}') requests/s," \
    "$(echo "scale=1; ($after - $before) * 10000 / $requests" | bc) µs CPU a request (server processes)"
}

(cd "$BENCH_DIR" && exec "$ROOT/.venv/bin/granian" --interface wsgi bare_wsgi:application \
    --host 127.0.0.1 --port "$PORT" --workers 3 --blocking-threads 1 --backlog 4096 \
    --log-level warning >/dev/null 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.2; done
measure "granian, bare WSGI app" "$SERVER_PID" "http://127.0.0.1:$PORT/"
bench_stop

export INGEST_SINK=direct BENCH_WORKERS=3 BENCH_THREADS=1
bench_reset_db >/dev/null
bench_start_server
measure "granian + Django lean handler (/v1/bench/noop)" "$SERVER_PID" "http://127.0.0.1:$PORT/v1/bench/noop"
