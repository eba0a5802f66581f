#!/usr/bin/env python3
"""Stored bytes per stats sample on PostgreSQL: raw samples and per-track
metrics, tables + indexes + TOAST, all partitions, divided by the number of
samples. Run it against the database a benchmark filled:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pm_bench .venv/bin/python bench/storage.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402


def main() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_statssample")
        cursor.execute("VACUUM ANALYZE quality_trackmetric")
        sizes = {}
        for table in ("events_statssample", "quality_trackmetric"):
            cursor.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0), "
                "COALESCE(SUM(pg_relation_size(relid)), 0), "
                "COALESCE(SUM(pg_indexes_size(relid)), 0) "
                "FROM pg_partition_tree(%s::regclass)",
                [table],
            )
            total, heap, indexes = (int(v) for v in cursor.fetchone())
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            rows = cursor.fetchone()[0]
            sizes[table] = {
                "rows": rows,
                "total_bytes": total,
                "heap_bytes": heap,
                "index_bytes": indexes,
            }
        cursor.execute("SELECT avg(length(raw)) FROM events_statssample")
        raw = cursor.fetchone()[0]
    samples = sizes["events_statssample"]["rows"] or 1
    total = sum(s["total_bytes"] for s in sizes.values())
    print(
        json.dumps(
            {
                "tables": sizes,
                "samples": samples,
                "metric_rows_per_sample": round(sizes["quality_trackmetric"]["rows"] / samples, 2),
                "avg_compressed_report_bytes": round(float(raw or 0), 1),
                "bytes_per_sample_raw_table": round(
                    sizes["events_statssample"]["total_bytes"] / samples
                ),
                "bytes_per_sample_metrics": round(
                    sizes["quality_trackmetric"]["total_bytes"] / samples
                ),
                "bytes_per_sample_total": round(total / samples),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
