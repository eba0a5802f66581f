#!/usr/bin/env python3
"""CPU added to every request by the request context (api.common.middleware:
request id, log context, request counter and latency histogram) and by the
stats path's own counter, measured in-process, with and without
prometheus-client's multiprocess mode (the production setting).

    .venv/bin/python bench/request_context_cost.py            # both modes
    .venv/bin/python bench/request_context_cost.py -n 100000

Each figure is the best of five runs of N calls (CPU time), minus the same
loop around a bare view, so it is what the middleware itself costs. Each
mode runs in a subprocess of its own: the mode is chosen at import.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _best(loop, n: int) -> float:
    runs = []
    for _ in range(5):
        started = time.process_time()
        loop(n)
        runs.append(time.process_time() - started)
    return min(runs) / n


def measure(n: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    import django

    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from api.common import metrics
    from api.common.middleware import RequestContextMiddleware

    match = resolve("/v1/stats")
    answer = HttpResponse(b'""', content_type="application/json")

    def view(request):
        request.resolver_match = match  # what URL resolution leaves on the request
        return answer

    request = RequestFactory().post("/v1/stats", b"{}", content_type="text/plain")
    middleware = RequestContextMiddleware(view)

    def bare(k: int) -> None:
        for _ in range(k):
            view(request)

    def wrapped(k: int) -> None:
        for _ in range(k):
            middleware(request)

    def counted(k: int) -> None:
        for _ in range(k):
            metrics.labelled(metrics.STATS_ACCEPTED, "direct").inc()

    base = _best(bare, n)
    mode = "multiprocess" if metrics._DIR is not None else "single process"
    print(
        f"{mode}: middleware {(_best(wrapped, n) - base) * 1e6:.2f} µs, "
        f"stats counter {_best(counted, n) * 1e6:.2f} µs per request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.n)
        return
    base_env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    base_env.update(LOG_LEVEL="WARNING", DATA_DIR=tempfile.mkdtemp(prefix="pm-bench-"))
    with tempfile.TemporaryDirectory() as shared:
        for extra in ({}, {"PROMETHEUS_MULTIPROC_DIR": shared}):
            subprocess.run(
                [sys.executable, __file__, "--child", "-n", str(args.n)],
                env={**base_env, **extra},
                check=True,
            )


if __name__ == "__main__":
    main()
