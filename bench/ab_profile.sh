#!/usr/bin/env bash
# In-process CPU per stats request, two checkouts interleaved (A/B):
#   BASE=/path/to/other/checkout bash bench/ab_profile.sh > log
# Each checkout needs its own .venv; both use the pm_profile database and Redis db 9.
BASE="${BASE:?set BASE to the other checkout}"
LOG=/dev/stdout
for rep in 1 2 3; do
 for side in base main; do
  d="$(cd "$(dirname "$0")/.." && pwd)"; [ $side = base ] && d="$BASE"
  for sink in direct queued; do
   echo "### $(date -u +%H:%M:%S) $side $sink rep$rep" >> $LOG
   (cd $d && source bench/env.sh && export DATABASE_URL=postgres://postgres@127.0.0.1:5432/pm_profile REDIS_HOST=redis://127.0.0.1:6379/9 && .venv/bin/python bench/profile_stats.py --sink $sink -n 1500) >> $LOG 2>&1
  done
 done
done
echo "### done" >> $LOG
