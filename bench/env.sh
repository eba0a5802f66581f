# Environment of the benchmark server (sourced by bench/*.sh). PostgreSQL and
# Redis on this machine; secrets that are only good for a benchmark.
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/pm_bench}"
export DATA_DIR="${BENCH_DATA_DIR:-/tmp/pm-bench-data}"
export DEBUG=false
export SECRET_KEY=bench-secret-key-0123456789-0123456789-0123456789
export INIT_TOKEN_SECRET=bench-init-token-secret-0123456789-0123456789
export SESSION_TOKEN_SECRET=bench-session-token-secret-0123456789-012345
export ALLOWED_HOSTS=127.0.0.1,localhost
export CONN_MAX_AGE=600
export LOG_LEVEL=WARNING
export BENCH_API_KEY=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
# Every browser the generators play comes from 127.0.0.1: the per-address
# limit on /initialize (600/m) would refuse an overload run's set-up.
export RATE_LIMIT_INITIALIZE="${RATE_LIMIT_INITIALIZE:-off}"
