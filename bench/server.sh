# Start/stop the benchmark server stack (sourced by the bench scripts).
# Everything listens on 127.0.0.1 only.
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
PY="$ROOT/.venv/bin/python"
PORT="${BENCH_PORT:-8030}"
# Logs of the server and the worker; BENCH_LOG_DIR keeps concurrent stacks apart.
SERVER_LOG="${BENCH_LOG_DIR:-/tmp}/pm-bench-server.log"
WORKER_LOG="${BENCH_LOG_DIR:-/tmp}/pm-bench-worker.log"
source "$BENCH_DIR/env.sh"

bench_reset_db() {
  local name="${DATABASE_URL##*/}"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $name" 2>/dev/null
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $name"
  (cd "$ROOT" && $PY manage.py migrate -v0 && $PY manage.py maintain_partitions >/dev/null \
     && $PY manage.py quickstart --api-key "$BENCH_API_KEY" >/dev/null)
  if [ "${INGEST_SINK:-direct}" = queued ]; then
    rm -rf "${INGEST_SPOOL_DIR:-$DATA_DIR/spool}"
    redis-cli -u "$REDIS_HOST" DEL "${INGEST_STREAM:-pm:stats}" >/dev/null
    redis-cli -u "$REDIS_HOST" --scan --pattern 'pm:*' | xargs -r -n 500 redis-cli -u "$REDIS_HOST" DEL >/dev/null
  fi
}

bench_start_server() {
  (cd "$ROOT" && exec "$ROOT/.venv/bin/granian" --interface wsgi api.wsgi:application \
      --host 127.0.0.1 --port "$PORT" --workers "${BENCH_WORKERS:-2}" \
      --blocking-threads "${BENCH_THREADS:-1}" --backlog 4096 --backpressure "${BENCH_BACKPRESSURE:-4096}" \
      --respawn-failed-workers --respawn-interval 1 \
      --log-level warning >"$SERVER_LOG" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && break
    sleep 0.2
  done
}

bench_start_worker() {
  # BENCH_WORKER_NICE=N runs the workers at a lower CPU priority (ingest_worker --nice N);
  # BENCH_INGEST_WORKERS=N starts N of them in one consumer group (logs: pm-bench-worker[-i].log).
  WORKER_PIDS=()
  local i log
  for i in $(seq 1 "${BENCH_INGEST_WORKERS:-1}"); do
    log="$WORKER_LOG"; [ "$i" -gt 1 ] && log="${WORKER_LOG%.log}-$i.log"
    (cd "$ROOT" && exec $PY manage.py ingest_worker --consumer "bench-worker-$i" --progress 5 \
        --nice "${BENCH_WORKER_NICE:-0}" >"$log" 2>&1) &
    WORKER_PIDS+=($!)
  done
  WORKER_PID=${WORKER_PIDS[0]}
}

bench_stop() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  local pid
  for pid in "${WORKER_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  SERVER_PID= WORKER_PID= WORKER_PIDS=()
}

bench_pg_pid() {
  head -1 "$(psql -h 127.0.0.1 -U postgres -Atc 'SHOW data_directory')/postmaster.pid"
}

bench_redis_pid() {
  redis-cli -u "$REDIS_HOST" INFO server | sed -n 's/^process_id:\([0-9]*\).*/\1/p' | tr -d '\r'
}
