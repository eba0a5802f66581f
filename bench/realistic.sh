#!/usr/bin/env bash
# Realistic mode, the way docs/benchmarks.md records it:
#   bench/realistic.sh direct|queued [seconds] [conferences] [participants] [interval_s]
# C conferences x P participants in full mesh, the whole SDK lifecycle,
# stats every interval; 10 % of the participants receive 10 % loss from a
# third of the run on, and the run measures when their issue is in the DB.
# BENCH_MODE=sdk sends the stats in open loop as the SDK does (load.py sdk:
# on each connection's clock whether answered or not, 10 s timeout, the
# SDK's retries) and records the backlog and the stored rate per second;
# the default, realistic, waits for each answer before the next request.
# BENCH_DRAIN: seconds the sdk mode waits after the run for the answers and
# retries still due (default 75: the SDK's longest retry chain is ~63 s + 10 s).
# BENCH_TAG names the result file further (bench/overload.sh sets it).
set -euo pipefail
SINK="${1:-queued}"; SECONDS_RUN="${2:-300}"; CONFS="${3:-50}"; PARTS="${4:-4}"; INTERVAL="${5:-1}"
MODE="${BENCH_MODE:-realistic}"
EXTRA=()
if [ "$MODE" = sdk ]; then EXTRA+=(--drain "${BENCH_DRAIN:-75}"); fi
export INGEST_SINK="$SINK"
if [ "$SINK" = queued ]; then export REDIS_HOST="${REDIS_HOST:-redis://127.0.0.1:6379/9}"; fi
source "$(dirname "$0")/server.sh"
OUT="$ROOT/bench/results"; mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
trap bench_stop EXIT

bench_reset_db
# The apps' stats interval is what /initialize tells the SDK (and the
# detectors' notion of a gap); set the demo app to the one played here.
(cd "$ROOT" && $PY manage.py shell -c \
  "from api.tenancy.models import App; App.objects.update(interval=int($INTERVAL*1000))")
bench_start_server
PIDS=(--server-pid "$SERVER_PID" --server-pid "$(bench_pg_pid)")
if [ "$SINK" = queued ]; then
  bench_start_worker
  for pid in "${WORKER_PIDS[@]}"; do PIDS+=(--server-pid "$pid"); done
  PIDS+=(--server-pid "$(bench_redis_pid)")
fi
cd "$ROOT"
$PY bench/load.py "$MODE" --api-key "$BENCH_API_KEY" --url "http://127.0.0.1:$PORT/v1" \
  --conferences "$CONFS" --participants "$PARTS" --interval "$INTERVAL" --duration "$SECONDS_RUN" \
  "${PIDS[@]}" "${EXTRA[@]}" --verify --verify-wait "${BENCH_VERIFY_WAIT:-120}" \
  --json "$OUT/$STAMP-$MODE-$SINK${BENCH_TAG:+-$BENCH_TAG}.json"
if [ "$SINK" = queued ]; then tail -3 "$WORKER_LOG"; fi
