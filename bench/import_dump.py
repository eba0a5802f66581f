"""Time the import of a long, many-participant rtcstats dump on SQLite.

    .venv/bin/python bench/import_dump.py [--minutes 30] [--participants 4] [--interval-ms 10000]

Generates the dump from the real one (fixtures/dumps/call2p-30s-loss10.
rtcstats_dump.gz: two pages of one Chromium, one connection each way):
``--participants`` pages in full mesh, so n·(n−1) connections (12 for 4),
each the real connection's reports looped for ``--minutes`` with its
counters carried on (every number that grew over the real 30 s keeps
growing at the same rate; gauges such as RTT and jitter repeat) and one
full report a second per connection, as Chrome writes them. Then imports
it with ``api.interop.importer.dump_import`` into a fresh SQLite database
(a temporary DATA_DIR, migrated first) and prints the dump's size and the
time of reading it and of the whole import.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "fixtures" / "dumps" / "call2p-30s-loss10.rtcstats_dump.gz"

# Numbers that are measurements, not counters: repeated, never carried on.
GAUGES = {
    "jitter",
    "roundTripTime",
    "currentRoundTripTime",
    "audioLevel",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
    "availableOutgoingBitrate",
    "targetBitrate",
    "priority",
    "port",
    "ssrc",
    "rtxSsrc",
    "payloadType",
    "clockRate",
    "fractionLost",
    "relativePacketArrivalDelay",
    "jitterBufferTargetDelay",
}


def _source() -> tuple[list[list], dict[str, list[tuple[float, dict]]]]:
    """The real dump's events (absolute times) and each connection's reports."""
    lines = gzip.decompress(SOURCE.read_bytes()).splitlines()
    events: list[list] = []
    reports: dict[str, list[tuple[float, dict]]] = {}
    clock = 0.0
    for i, line in enumerate(lines[2:]):
        entry = orjson.loads(line)
        clock = entry[-1] if i == 0 else clock + entry[-1]
        if entry[0] == "getStats":
            reports.setdefault(entry[1], []).append((clock, entry[2]))
        else:
            events.append([*entry[:-1], clock])
    return events, reports


def _growth(first: dict, last: dict) -> dict[str, dict[str, float]]:
    """Per stats object, how much each counter grew over the real dump."""
    out: dict[str, dict[str, float]] = {}
    for stats_id, obj in last.items():
        before = first.get(stats_id) or {}
        grown = {}
        for key, value in obj.items():
            old = before.get(key)
            if (
                key not in GAUGES
                and key != "timestamp"
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and isinstance(old, int | float)
                and value > old
            ):
                grown[key] = value - old
        out[stats_id] = grown
    return out


def _renamed(value, pair: str, ufrags: set[str]):
    """ICE username fragments made unique per pair, so the importer pairs
    each generated connection with its own other end."""
    if isinstance(value, dict):
        return {
            k: (v + pair if k == "usernameFragment" and v in ufrags else _renamed(v, pair, ufrags))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed(v, pair, ufrags) for v in value]
    return value


def generate(path: Path, *, minutes: float, participants: int) -> int:
    """Write the dump; returns the number of getStats lines."""
    events, reports = _source()
    ends = sorted(reports)  # the two ends of the real call: "10-1", "9-1"
    ufrags = {
        s["usernameFragment"]
        for rs in reports.values()
        for _, r in rs
        for s in r.values()
        if isinstance(s, dict) and isinstance(s.get("usernameFragment"), str)
    }
    start = min(t for rs in reports.values() for t, _ in rs)
    first_event = events[0][-1]
    span = minutes * 60_000.0
    pages = [str(100 + i) for i in range(participants)]
    # (connection id, source end) for each ordered pair of pages.
    pcs: list[tuple[str, str, str]] = []
    counter = dict.fromkeys(pages, 0)
    for pair_no, (a, b) in enumerate(itertools.combinations(pages, 2)):
        counter[a] += 1
        counter[b] += 1
        pcs.append((f"{a}-{counter[a]}", ends[1], f"p{pair_no}"))
        pcs.append((f"{b}-{counter[b]}", ends[0], f"p{pair_no}"))
    out: list[tuple[float, bytes]] = []
    header = [e for e in events if e[1] is None]
    for pc, end, _pair in pcs:
        for entry in events:
            if entry[1] == end:
                out.append((entry[-1], orjson.dumps([entry[0], pc, *entry[2:-1]])))
    for page in pages:
        for entry in events:
            if (
                isinstance(entry[1], str)
                and entry[1].endswith("-0")
                and entry[1].startswith(ends[1].split("-")[0])
            ):
                out.append((entry[-1], orjson.dumps([entry[0], f"{page}-0", *entry[2:-1]])))
    stats_lines = 0
    tick_sources = {}
    for pc, end, pair in pcs:
        series = reports[end]
        period = series[-1][0] - series[0][0] + 1000.0
        growth = _growth(series[0][1], series[-1][1])
        tick_sources[pc] = (series, period, growth, pair)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b'RTCStatsDump\n{"fileFormat":3}\n')
        previous = first_event
        for _, entry in sorted((e[-1], e) for e in header):
            f.write(orjson.dumps([*entry[:-1], entry[-1]]) + b"\n")
            previous = entry[-1]
        for at, line in sorted(out):
            f.write(line[:-1] + b"," + orjson.dumps(at - previous) + b"]\n")
            previous = at
        # Then the stats, connection by connection interleaved in time.
        loops = int(span // tick_sources[pcs[0][0]][1]) + 1
        timeline = []
        for pc, (series, period, _grown, _pair) in tick_sources.items():
            for loop in range(loops):
                for i, (t, _) in enumerate(series):
                    at = t + loop * period
                    if at - start <= span:
                        timeline.append((at, pc, loop, i))
        timeline.sort()
        for at, pc, loop, i in timeline:
            series, period, growth, pair = tick_sources[pc]
            report = {}
            for stats_id, obj in series[i][1].items():
                obj = dict(obj)
                for key, delta in growth.get(stats_id, {}).items():
                    if isinstance(obj.get(key), int | float):
                        obj[key] = obj[key] + loop * delta
                if isinstance(obj.get("timestamp"), int | float):
                    obj["timestamp"] = obj["timestamp"] + loop * period
                report[stats_id] = obj
            report = _renamed(report, pair, ufrags)
            f.write(orjson.dumps(["getStats", pc, report, max(at - previous, 0.0)]) + b"\n")
            previous = max(previous, at)
            stats_lines += 1
    return stats_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument("--interval-ms", type=int, default=10_000, help="The app's stats interval.")
    parser.add_argument("--keep", type=Path, help="Also keep the generated dump here.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pm-bench-import-"))
    dump = args.keep or work / "bench.rtcstats_dump.gz"
    started = time.perf_counter()
    lines = generate(dump, minutes=args.minutes, participants=args.participants)
    generated = time.perf_counter() - started
    raw = dump.read_bytes()

    os.environ["DATA_DIR"] = str(work)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("DATABASE_HOST", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from api.interop.dumps import dump_read
    from api.interop.importer import dump_import
    from api.tenancy.models import App, Organization

    call_command("migrate", verbosity=0)
    app = App.objects.create(
        organization=Organization.objects.create(name="bench"),
        name="bench",
        interval=args.interval_ms,
    )
    started = time.perf_counter()
    dump_read(raw, keep_every_ms=float(args.interval_ms), max_bytes=1 << 31)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = dump_import(app=app, raw=raw, filename=dump.name)
    total_s = time.perf_counter() - started
    print(
        f"dump: {args.minutes:g} min, {args.participants} participants, "
        f"{summary.connections} connections, {lines} getStats lines, "
        f"{len(raw) / 1e6:.1f} MB gzip ({generated:.1f} s to generate)"
    )
    print(
        f"app interval {args.interval_ms} ms: {summary.samples} samples kept, {summary.events} events"
    )
    print(f"read (decompress, parse, pivot): {read_s:.2f} s")
    print(f"import (read + store + analyse), SQLite: {total_s:.2f} s; {summary.issues} issues")


if __name__ == "__main__":
    main()
