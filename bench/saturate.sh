#!/usr/bin/env bash
# Saturate mode, the way docs/benchmarks.md records it:
#   bench/saturate.sh direct|queued [seconds] [clients]
# In one run: the no-op route, then /v1/stats, on the same server stack;
# then the database check that every 2xx sample is stored exactly once.
set -euo pipefail
SINK="${1:-direct}"; SECONDS_RUN="${2:-60}"; CLIENTS="${3:-64}"
export INGEST_SINK="$SINK"
# wrk's bodies repeat one captured report (a new sequence number each), so
# its timestamps never advance: to the stats deadline every one would look
# later than the last. Closed-loop clients wait for their answers and queue
# nothing, so the deadline is off here (the open-loop runs keep it).
export INGEST_STATS_DEADLINE_MS="${INGEST_STATS_DEADLINE_MS:-0}"
if [ "$SINK" = queued ]; then export REDIS_HOST="${REDIS_HOST:-redis://127.0.0.1:6379/9}"; fi
source "$(dirname "$0")/server.sh"
OUT="$ROOT/bench/results"; mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
trap bench_stop EXIT

bench_reset_db
bench_start_server
PIDS=(--server-pid "$SERVER_PID" --server-pid "$(bench_pg_pid)")
if [ "$SINK" = queued ]; then
  bench_start_worker
  for pid in "${WORKER_PIDS[@]}"; do PIDS+=(--server-pid "$pid"); done
  PIDS+=(--server-pid "$(bench_redis_pid)")
fi
cd "$ROOT"
echo "== no-op route, $SECONDS_RUN s, $CLIENTS clients"
$PY bench/load.py saturate --api-key "$BENCH_API_KEY" --url "http://127.0.0.1:$PORT/v1" \
  --path bench/noop --clients "$CLIENTS" --connections 64 --duration "$SECONDS_RUN" "${PIDS[@]}" \
  --json "$OUT/$STAMP-saturate-$SINK-noop.json" | grep -E '"requests_per_s"|_ms"|"generator"'
echo "== /v1/stats ($SINK sink), $SECONDS_RUN s, $CLIENTS clients"
$PY bench/load.py saturate --api-key "$BENCH_API_KEY" --url "http://127.0.0.1:$PORT/v1" \
  --clients "$CLIENTS" --connections 64 --duration "$SECONDS_RUN" "${PIDS[@]}" \
  --verify --verify-wait 300 --json "$OUT/$STAMP-saturate-$SINK-stats.json"
if [ "$SINK" = queued ]; then tail -3 "$WORKER_LOG"; fi
