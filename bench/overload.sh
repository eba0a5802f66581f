#!/usr/bin/env bash
# Overload, the way docs/benchmarks.md records it:
#   bench/overload.sh direct|queued FACTOR [seconds] [base_rate]
# The SDK's open-loop stats traffic (bench/realistic.sh with BENCH_MODE=sdk)
# at FACTOR x base_rate requests/s: conferences of 4 participants in full
# mesh at a 1 s interval (12 stats requests/s each), as many as make the
# rate, so the load is the realistic one, only more of it. 10 % of the
# participants receive 10 % loss from a third of the run on; the run checks
# their issues are still raised and every sample answered 2xx is stored.
# base_rate: the sink's saturated throughput (bench/saturate.sh) — pass the
# current figure; the defaults are the issue's measurements.
set -euo pipefail
SINK="${1:?direct or queued}"; FACTOR="${2:?overload factor, e.g. 2 or 5}"; SECONDS_RUN="${3:-300}"
case "$SINK" in
  direct) BASE="${4:-700}" ;;
  queued) BASE="${4:-1200}" ;;
  *) echo "sink: direct or queued" >&2; exit 2 ;;
esac
PER_CONFERENCE=12  # 4 x 3 connections, one sample each a second
CONFS="$(python3 -c "print(max(1, round($FACTOR * $BASE / $PER_CONFERENCE)))")"
echo "== overload ${FACTOR}x of $BASE/s on the $SINK sink: $CONFS conferences x 4 at 1 s" \
  "= $((CONFS * PER_CONFERENCE)) stats requests/s offered, $SECONDS_RUN s"
export BENCH_MODE=sdk BENCH_TAG="overload-${FACTOR}x" BENCH_VERIFY_WAIT="${BENCH_VERIFY_WAIT:-300}"
exec "$(dirname "$0")/realistic.sh" "$SINK" "$SECONDS_RUN" "$CONFS" 4 1
