#!/usr/bin/env bash
# Fault injection under load (queued sink), the way docs/benchmarks.md records it:
#   bench/faults.sh postgres   # PostgreSQL restarted 20 s into a 60 s saturate run
#   bench/faults.sh worker     # the ingest worker SIGKILLed every 12 s (mid-batch) and restarted
#   bench/faults.sh web        # a web process SIGKILLed every 12 s (granian respawns it); the
#                              # samples its spool held are forwarded by another process
#   BENCH_SINK=direct bench/faults.sh postgres   # the same restart with the direct sink
# Then the database check: every sample answered 2xx stored exactly once.
set -euo pipefail
FAULT="${1:?postgres, worker or web}"; SECONDS_RUN="${2:-60}"; CLIENTS="${3:-64}"
export INGEST_SINK="${BENCH_SINK:-queued}"
if [ "$INGEST_SINK" = queued ]; then export REDIS_HOST="${REDIS_HOST:-redis://127.0.0.1:6379/9}"; fi
source "$(dirname "$0")/server.sh"
OUT="$ROOT/bench/results"; mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
trap bench_stop EXIT

bench_reset_db
bench_start_server
if [ "$INGEST_SINK" = queued ]; then bench_start_worker; fi
cd "$ROOT"
$PY bench/load.py saturate --api-key "$BENCH_API_KEY" --url "http://127.0.0.1:$PORT/v1" \
  --clients "$CLIENTS" --connections 64 --duration "$SECONDS_RUN" --server-pid "$SERVER_PID" \
  --verify --verify-wait 300 --json "$OUT/$STAMP-fault-$FAULT-$INGEST_SINK.json" > "/tmp/pm-fault-$FAULT.log" 2>&1 &
LOAD=$!
sleep 25   # setup (~5 s) and 20 s of load
case "$FAULT" in
  postgres)
    echo "$(date -u +%T) restarting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart
    echo "$(date -u +%T) PostgreSQL back"
    ;;
  worker)
    for _ in 1 2 3; do
      echo "$(date -u +%T) SIGKILL worker $WORKER_PID (backlog $(redis-cli -u "$REDIS_HOST" XLEN pm:stats))"
      kill -9 "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
      sleep 2
      bench_start_worker
      sleep 10
    done
    ;;
  web)
    for _ in 1 2 3; do
      victim="$(pgrep -P "$SERVER_PID" | head -n1)"
      echo "$(date -u +%T) SIGKILL web process $victim (spool: $(ls "$DATA_DIR/spool" 2>/dev/null | wc -l) files)"
      kill -9 "$victim"
      sleep 12
    done
    ;;
esac
wait "$LOAD"
grep -E '"requests_per_s"|"ok_2xx"|"status_errors"|"timeouts"|"answered_2xx"|"stored"|"lost"|"stored_without_2xx"|"duplicated"' \
  "/tmp/pm-fault-$FAULT.log"
if [ "$INGEST_SINK" = queued ]; then tail -2 "$WORKER_LOG"; fi
