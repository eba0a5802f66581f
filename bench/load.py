#!/usr/bin/env python3
"""Load generator playing real SDK traffic against a server on this machine.

    realistic: C conferences × P participants in full mesh, the whole SDK
               lifecycle (initialize, sessions, getUserMedia, addConnection,
               connection and track events, stats every I seconds, endCall).
    saturate:  K closed-loop clients posting stats as fast as answered
               (driven by wrk with a Lua script, so the generator's own CPU
               stays small), after setting up K connections.
    sdk:       the realistic set-up, then stats in open loop as the SDK sends
               them: every connection on its own clock whether or not the
               last request was answered, 10 s timeout, the SDK's retries
               (bench/open_loop.py); also the queue's backlog and the stored
               rate second by second. The mode for overload: a closed loop
               slows down with the server and hides its collapse.

All report per-endpoint throughput, p50/p95/p99 latency, errors by status and
error_code, server and generator CPU, and then check in the database that
every stats sample answered 2xx was stored exactly once.

Only loopback targets are accepted. Runs stop by themselves (--duration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from open_loop import (  # noqa: E402
    CHROME_CONNECTIONS_PER_HOST,
    Backlog,
    Deadlines,
    Pool,
    StatsTally,
    percentiles,
    request_head,
    request_wire,
)
from sdk_traffic import StatsSynth, Templates  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ HTTP


class Http:
    """A keep-alive HTTP/1.1 connection: the SDK's requests are small and
    answered with small bodies, so this stays far cheaper than a client
    library."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                head = (
                    f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    "Content-Type: text/plain\r\nOrigin: http://127.0.0.1:18080\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                self.writer.write(head + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
                status = int(status_line.split()[1])
                length = 0
                chunked = False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if not chunked:
                    return status, await self.reader.readexactly(length)
                body = b""
                while True:
                    size = int((await self.reader.readline()).strip(), 16)
                    chunk = await self.reader.readexactly(size + 2)
                    if size == 0:
                        return status, body
                    body += chunk[:-2]
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.writer = None
                if attempt == 2:
                    raise
        raise AssertionError


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.error_codes: Counter = Counter()
        self.stats_ok = 0

    def record(self, name: str, status: int, body: bytes, seconds: float) -> None:
        self.latencies[name].append(seconds * 1000)
        self.statuses[name][status] += 1
        if status >= 400:
            try:
                self.error_codes[(name, status, orjson.loads(body).get("error_code"))] += 1
            except Exception:
                self.error_codes[(name, status, None)] += 1
        elif name == "stats":
            self.stats_ok += 1


async def call(http: Http, rec: Recorder, name: str, method: str, path: str, body: dict | bytes):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    started = time.perf_counter()
    try:
        status, answer = await http.request(method, path, raw)
    except Exception:
        rec.record(name, 599, b"", time.perf_counter() - started)
        return 599, None
    rec.record(name, status, answer, time.perf_counter() - started)
    try:
        return status, orjson.loads(answer) if answer else None
    except orjson.JSONDecodeError:
        return status, None


# ------------------------------------------------------------- CPU usage


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its descendants (all threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    seen = set()
    while pids:
        current = pids.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pids.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


class CpuMeter:
    def __init__(self, pids: list[int]):
        self.pids = pids
        self.start_wall = time.monotonic()
        self.start = {pid: cpu_seconds(pid) for pid in pids}
        self.self_start = time.process_time()

    def report(self) -> dict:
        wall = time.monotonic() - self.start_wall
        out = {str(pid): round((cpu_seconds(pid) - self.start[pid]) / wall, 3) for pid in self.pids}
        out["generator"] = round((time.process_time() - self.self_start) / wall, 3)
        out["wall_s"] = round(wall, 1)
        return out


# ----------------------------------------------------------- participants


class Participant:
    def __init__(self, conference: str, user: str, http: Http):
        self.conference, self.user, self.http = conference, user, http
        self.token = ""
        self.stats_interval_ms: int | None = None  # what /initialize told the SDK
        self.connections: dict[str, tuple[str, str]] = {}  # peer user → (peer_id, connection_id)
        self.synth: dict[str, StatsSynth] = {}


async def join(p: Participant, t: Templates, rec: Recorder, api_key: str, prefix: str) -> bool:
    status, answer = await call(
        p.http,
        rec,
        "initialize",
        "POST",
        f"{prefix}/initialize",
        {
            "conferenceId": p.conference,
            "conferenceName": f"bench {p.conference}",
            "userId": p.user,
            "userName": p.user,
            "apiKey": api_key,
        },
    )
    if status != 200:
        return False
    p.stats_interval_ms = answer.get("getStatsInterval")
    body = {**t.session, "token": answer["token"]}
    status, answer = await call(p.http, rec, "sessions", "POST", f"{prefix}/sessions", body)
    if status != 200:
        return False
    p.token = answer["token"]
    for gum in t.gum:
        await call(
            p.http,
            rec,
            "get-user-media",
            "POST",
            f"{prefix}/events/get-user-media",
            {**gum, "token": p.token},
        )
    return True


async def connect(
    p: Participant, peer: str, t: Templates, rec: Recorder, prefix: str, interval: float
):
    status, answer = await call(
        p.http,
        rec,
        "connection",
        "POST",
        f"{prefix}/connection",
        {
            "eventName": "addConnection",
            "peerId": peer,
            "peerName": peer,
            "connectionState": "new",
            "isSfu": False,
            "token": p.token,
        },
    )
    if status != 200:
        return
    ids = (answer["peer_id"], answer["connection_id"])
    p.connections[peer] = ids
    p.synth[peer] = StatsSynth(t, interval_s=interval)
    for event in t.connection_events:
        await call(
            p.http,
            rec,
            "connection",
            "POST",
            f"{prefix}/connection",
            {**event, "peerId": ids[0], "connectionId": ids[1], "token": p.token},
        )
    for index, ontrack in enumerate(t.ontrack):
        track_id = f"{ids[1][:8]}-{index}"
        await call(
            p.http,
            rec,
            "tracks",
            "POST",
            f"{prefix}/tracks",
            {
                **ontrack,
                "peerId": ids[0],
                "connectionId": ids[1],
                "trackId": track_id,
                "token": p.token,
            },
        )
        await call(
            p.http,
            rec,
            "tracks",
            "PUT",
            f"{prefix}/tracks",
            {
                "event": "unmute",
                "connectionId": ids[1],
                "trackId": track_id,
                "data": {},
                "token": p.token,
            },
        )


async def mesh_setup(
    args, rec: Recorder, loss_from: float
) -> tuple[list[Participant], set[str], str]:
    """C conferences × P participants joined and connected in full mesh;
    also who of them is impaired, and the run's name."""
    host, port, prefix = _target(args.url)
    t = Templates()
    run = args.run or uuid.uuid4().hex[:6]
    people: list[Participant] = []
    for c in range(args.conferences):
        for u in range(args.participants):
            people.append(
                Participant(f"bench-{run}-c{c}", f"bench-{run}-c{c}-u{u}", Http(host, port))
            )
    print(f"setting up {len(people)} participants …", flush=True)
    sem = asyncio.Semaphore(16)

    async def setup(p: Participant):
        async with sem:
            await join(p, t, rec, args.api_key, prefix)

    await asyncio.gather(*(setup(p) for p in people))
    by_conf: dict[str, list[Participant]] = defaultdict(list)
    for p in people:
        by_conf[p.conference].append(p)

    async def mesh(p: Participant):
        async with sem:
            for q in by_conf[p.conference]:
                if q is not p:
                    await connect(p, q.user, t, rec, prefix, args.interval)

    await asyncio.gather(*(mesh(p) for p in people))
    impaired = {p.user for p in random.Random(7).sample(people, int(len(people) * args.impaired))}
    print(
        f"{sum(len(p.connections) for p in people)} connections; {len(impaired)} participants "
        f"receive {args.loss:.0%} loss from t={loss_from:.0f}s",
        flush=True,
    )
    return people, impaired, run


async def watch_issues(impaired: set[str], until: float, seen: dict[str, float]) -> None:
    """The API's view of live detection: when does an impaired
    participant's packet-loss issue first exist in the database?"""
    loop = asyncio.get_running_loop()
    while impaired and time.monotonic() < until:
        await asyncio.sleep(0.25)
        found = await loop.run_in_executor(None, _issues_seen, sorted(impaired))
        now_wall = time.time()
        for user in found:
            seen.setdefault(user, now_wall)
        if impaired and len(seen) == len(impaired):
            return


def live_detection(
    impaired: set[str], first_lossy: dict[str, float], seen: dict[str, float], interval: float
) -> dict:
    delays = sorted(seen[u] - first_lossy[u] for u in seen if u in first_lossy)
    return {
        "impaired_participants": len(impaired),
        "packet_loss_issue_seen": len(seen),
        "seconds_from_first_lossy_sample_to_issue_in_db": {
            "min": round(delays[0], 2) if delays else None,
            "median": round(delays[len(delays) // 2], 2) if delays else None,
            "max": round(delays[-1], 2) if delays else None,
        },
        "stats_interval_s": interval,
    }


async def realistic(args) -> dict:
    _, _, prefix = _target(args.url)
    rec = Recorder()
    people, impaired, run = await mesh_setup(args, rec, args.duration / 3)

    setup_rec = rec
    rec = Recorder()
    meter = CpuMeter(args.server_pid)
    started = time.monotonic()
    deadline = started + args.duration
    sent_at: list[float] = []
    first_impaired: dict[str, float] = {}

    async def stats_loop(p: Participant):
        # Spread the participants over the interval like real clocks do.
        await asyncio.sleep(random.random() * args.interval)
        next_at = time.monotonic()
        while next_at < deadline:
            loss = (
                args.loss if p.user in impaired and next_at - started > args.duration / 3 else 0.0
            )
            if loss and p.user not in first_impaired:
                first_impaired[p.user] = time.time()
            for peer, (peer_id, connection_id) in p.connections.items():
                body = p.synth[peer].body(
                    token=p.token, peer_id=peer_id, connection_id=connection_id, loss=loss
                )
                await call(p.http, rec, "stats", "POST", f"{prefix}/stats", body)
                sent_at.append(time.monotonic())
            next_at += args.interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def progress():
        while time.monotonic() < deadline:
            await asyncio.sleep(5)
            elapsed = time.monotonic() - started
            lat = sorted(rec.latencies["stats"][-2000:]) or [0]
            print(
                f"  {elapsed:5.0f}s  stats sent {len(sent_at):7d}  "
                f"p99 recent {lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0]:.1f} ms  "
                f"errors {sum(rec.error_codes.values())}",
                flush=True,
            )

    seen_issue: dict[str, float] = {}
    progress_task = asyncio.create_task(progress())
    watch_task = asyncio.create_task(
        watch_issues(impaired, deadline + args.interval * 3, seen_issue)
        if args.verify
        else asyncio.sleep(0)
    )
    await asyncio.gather(*(stats_loop(p) for p in people))
    progress_task.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(watch_task, timeout=args.interval * 4)
    cpu = meter.report()
    stats_wall = time.monotonic() - started

    for p in people:
        await call(
            p.http,
            rec,
            "browser",
            "POST",
            f"{prefix}/events/browser",
            {"eventName": "endCall", "token": p.token},
        )
    result = summary(rec, stats_wall)
    result["setup"] = summary(setup_rec, None)["endpoints"]
    result["cpu_share_of_one_core"] = cpu
    result["offered_stats_per_s"] = round(
        sum(len(p.connections) for p in people) / args.interval, 1
    )
    result["run"] = run
    result["stats_2xx"] = rec.stats_ok
    result["connection_ids"] = [c for p in people for _, c in p.connections.values()]
    result["impaired_users"] = sorted(impaired)
    result["live_detection"] = live_detection(impaired, first_impaired, seen_issue, args.interval)
    return result


# ------------------------------------------------------------------- sdk


async def sdk(args) -> dict:
    host, port, prefix = _target(args.url)
    setup_rec = Recorder()
    loss_from = args.duration / 3 if args.loss_from is None else args.loss_from
    people, impaired, run = await mesh_setup(args, setup_rec, loss_from)
    if args.verify:
        # Django's start-up in the issue watcher's thread would hold the
        # GIL for a second of the run; have it done before.
        _django()
    told = Counter(p.stats_interval_ms for p in people)
    if set(told) - {int(args.interval * 1000)}:
        print(f"the server told other stats intervals (ms → participants): {dict(told)}")
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    pools = {p.user: Pool(host, port, deadlines, args.browser_connections) for p in people}
    started = time.monotonic()
    deadline = started + args.duration
    tally = StatsTally(host, port, f"{prefix}/{args.path}", started)
    backlog = Backlog(started)
    backlog.start()
    meter = CpuMeter(args.server_pid)
    times_before = os.times()
    overflows_before = listen_overflows()
    first_lossy: dict[str, float] = {}
    lag_ms: list[float] = []

    def tick(p: Participant, at: float, interval: float) -> None:
        # setInterval: the next tick is due whatever became of this one's requests.
        if at >= deadline:
            return
        # How late the generator is on its own schedule: if it falls behind,
        # the offered rate and the latencies are the generator's, not the server's.
        lag_ms.append((loop.time() - at) * 1000)
        lossy = p.user in impaired and at - started >= loss_from
        if lossy:
            first_lossy.setdefault(p.user, time.time())
        for peer, (peer_id, connection_id) in p.connections.items():
            body = p.synth[peer].body(
                token=p.token,
                peer_id=peer_id,
                connection_id=connection_id,
                loss=args.loss if lossy else 0.0,
            )
            tally.post(pools[p.user], body)
        loop.call_at(at + interval, tick, p, at + interval, interval)

    spread = random.Random(11)
    for p in people:
        # The SDK's clock is what /initialize answered; the browsers' clocks
        # are spread over the interval.
        interval = (p.stats_interval_ms or args.interval * 1000) / 1000
        first = started + spread.random() * interval
        loop.call_at(first, tick, p, first, interval)

    seen_issue: dict[str, float] = {}
    drain_until = deadline + args.drain
    watch_task = asyncio.create_task(
        watch_issues(impaired, drain_until, seen_issue) if args.verify else asyncio.sleep(0)
    )
    while time.monotonic() < deadline:
        await asyncio.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        recent = tally.series[-6:-1]
        print(
            f"  {time.monotonic() - started:5.0f}s  sent {tally.sent:8d}  "
            f"last 5 s per s: 2xx {sum(r[2] for r in recent) / 5:7.1f}  "
            f"shed {sum(r[3] for r in recent) / 5:6.1f}  "
            f"errors {sum(r[4] for r in recent) / 5:6.1f}  "
            f"backlog {backlog.rows[-1].get('backlog', '-') if backlog.rows else '-'}",
            flush=True,
        )
    cpu = meter.report()
    times = os.times()
    # Most of a request's cost is the kernel's (loopback TCP): user and system apart.
    generator_cpu_s = {
        "user": round(times.user - times_before.user, 2),
        "system": round(times.system - times_before.system, 2),
    }
    # Retries and answers still due: the SDK's longest chain is ~63 s + 10 s.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.settled.wait(), timeout=args.drain)
    tally.retrying = False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(watch_task, timeout=max(0.0, drain_until - time.monotonic()) + 1)
    backlog.stop()

    ended: list[asyncio.Future] = []
    end_head = request_head(host, port, "POST", f"{prefix}/events/browser")
    for p in people:
        future = loop.create_future()
        ended.append(future)
        pools[p.user].request(
            request_wire(end_head, orjson.dumps({"eventName": "endCall", "token": p.token})),
            lambda status, _body, f=future: f.done() or f.set_result(status),
        )
    end_statuses = Counter(await asyncio.gather(*ended))
    for pool in pools.values():
        pool.close()
    deadlines.stop()

    return _sdk_report(args, people, tally, backlog.rows, cpu, run) | {
        "generator_schedule_lag": percentiles(lag_ms),
        "generator_cpu_s": generator_cpu_s,
        "listen_queue_overflows": listen_overflows() - overflows_before,
        "setup": summary(setup_rec, None)["endpoints"],
        "end_call_statuses": dict(end_statuses),
        "stats_interval_ms_told": {str(k): v for k, v in told.items()},
        "impaired_users": sorted(impaired),
        "live_detection": live_detection(impaired, first_lossy, seen_issue, args.interval),
    }


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was
    full (machine-wide): a client then sees its connection hang for seconds
    of SYN retransmits, which reads as a slow server."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def _sdk_report(
    args, people: list[Participant], tally: StatsTally, probes: list[dict], cpu: dict, run: str
) -> dict:
    window = int(args.duration)
    series = []
    stored_before = 0
    by_second = {int(row["t"]): row for row in probes}
    for second, (sent, retries, ok, shed, errors) in enumerate(tally.series):
        row = {"t": second, "sent": sent, "retries": retries, "2xx": ok, "shed": shed}
        row["errors"] = errors
        probe = by_second.get(second)
        if probe is not None:
            row["stored"] = probe["stored"] - stored_before
            stored_before = probe["stored"]
            for key in ("backlog", "backlog_age_s"):
                if key in probe:
                    row[key] = probe[key]
        series.append(row)
    in_window = tally.series[:window]
    ok_in_window = sum(r[2] for r in in_window)
    stored_in_window = max(
        (row["stored"] for row in probes if row["t"] <= args.duration), default=0
    )
    wall = cpu["wall_s"]
    server_cpu_s = sum(v for k, v in cpu.items() if k.isdigit()) * wall
    attempts = sum(r[0] + r[1] for r in in_window)
    return {
        "mode": "sdk",
        "run": run,
        "participants": len(people),
        "connections": sum(len(p.connections) for p in people),
        "interval_s": args.interval,
        "duration_s": args.duration,
        "scheduled_stats_per_s": round(
            sum(
                len(p.connections) * 1000 / (p.stats_interval_ms or args.interval * 1000)
                for p in people
            ),
            1,
        ),
        "offered_stats_per_s": round(sum(r[0] for r in in_window) / args.duration, 1),
        "retries_sent": tally.retries,
        "first_attempt": dict(tally.first.most_common()),
        "final": dict(tally.final.most_common()) | {"unresolved": tally.pending},
        "latency_2xx": percentiles(tally.ok_ms),
        "latency_non_2xx": percentiles(tally.error_ms),
        "non_2xx_within_1s": sum(1 for ms in tally.error_ms if ms <= 1000),
        "non_2xx_bodies_without_error_code": tally.error_bodies_without_code,
        "goodput_2xx_per_s": round(ok_in_window / args.duration, 1),
        "stored_per_s": round(stored_in_window / args.duration, 1),
        "backlog_max": max((row.get("backlog", 0) for row in probes), default=None),
        "backlog_age_max_s": max((row.get("backlog_age_s", 0.0) for row in probes), default=None),
        "cpu_share_of_one_core": cpu,
        "cpu_ms_per_stored_sample_server_side": (
            round(server_cpu_s * 1000 / stored_in_window, 3) if stored_in_window else None
        ),
        "generator_cpu_ms_per_request": (
            round(cpu["generator"] * wall * 1000 / attempts, 3) if attempts else None
        ),
        "series": series,
        "stats_2xx": tally.final["2xx"],
        "connection_ids": [c for p in people for _, c in p.connections.values()],
    }


# -------------------------------------------------------------- saturate

LUA = r"""
local bodies = {}
local count = 0
local counter = 0
local seq = 0
init = function(args)
  for line in io.lines(args[1]) do
    count = count + 1
    bodies[count] = line
  end
  counter = tonumber(args[2]) * 1000000000
end
request = function()
  seq = seq + 1
  counter = counter + 1
  local body = bodies[(seq % count) + 1]
  body = string.gsub(body, "__SEQ__", tostring(counter), 1)
  return wrk.format("POST", PATH, {["Content-Type"] = "text/plain"}, body)
end
done = function(summary, latency, requests)
  local out = io.open(OUT, "w")
  out:write(string.format('{"requests": %d, "status_errors": %d, "timeouts": %d, "read_errors": %d, "write_errors": %d, "connect_errors": %d, "duration_us": %d, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}',
    summary.requests, summary.errors.status, summary.errors.timeout, summary.errors.read,
    summary.errors.write, summary.errors.connect, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
  out:close()
end
"""


async def saturate(args) -> dict:
    if not shutil.which("wrk"):
        sys.exit("saturate mode needs wrk (Debian: apt-get install wrk)")
    host, port, prefix = _target(args.url)
    t = Templates()
    rec = Recorder()
    run = args.run or uuid.uuid4().hex[:6]
    pairs = max(1, args.connections // 2)
    people = []
    for c in range(pairs):
        for u in range(2):
            people.append(Participant(f"sat-{run}-c{c}", f"sat-{run}-c{c}-u{u}", Http(host, port)))
    print(f"setting up {len(people)} connections …", flush=True)
    sem = asyncio.Semaphore(16)

    async def setup(p):
        async with sem:
            await join(p, t, rec, args.api_key, prefix)

    await asyncio.gather(*(setup(p) for p in people))
    for index in range(0, len(people), 2):
        a, b = people[index], people[index + 1]
        await connect(a, b.user, t, rec, prefix, args.interval)
        await connect(b, a.user, t, rec, prefix, args.interval)
    work = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    bodies = work / "bodies.txt"
    connection_ids = []
    with bodies.open("wb") as out:
        for p in people:
            for peer, (peer_id, connection_id) in p.connections.items():
                connection_ids.append(connection_id)
                report = p.synth[peer].next()
                # A unique number per request: every body is a new sample.
                report["connection"]["bench_seq"] = "__SEQ__"
                out.write(
                    orjson.dumps(
                        {
                            "data": report,
                            "peerId": peer_id,
                            "connectionId": connection_id,
                            "timeTaken": 2,
                            "token": p.token,
                        }
                    )
                    + b"\n"
                )
    script = work / "stats.lua"
    result_file = work / "result.json"
    script.write_text(f'PATH = "{prefix}/{args.path}"\nOUT = "{result_file}"\n' + LUA)
    print(
        f"wrk: {args.clients} clients, {args.threads} threads, {args.duration}s "
        f"→ {prefix}/{args.path}",
        flush=True,
    )
    meter = CpuMeter(args.server_pid)
    proc = subprocess.Popen(
        [
            "wrk",
            "-t",
            str(args.threads),
            "-c",
            str(args.clients),
            "-d",
            f"{int(args.duration)}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{host}:{port}/",
            "--",
            str(bodies),
            str(int(time.time()) % 1000),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    started = time.monotonic()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    last_print = started
    while proc.poll() is None:
        await asyncio.sleep(0.2)
        if time.monotonic() - last_print >= 5 and proc.poll() is None:
            last_print = time.monotonic()
            print(
                f"  {last_print - started:5.0f}s  server cpu so far "
                f"{sum(cpu_seconds(p) - meter.start[p] for p in meter.pids):.1f}s",
                flush=True,
            )
    cpu = meter.report()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    output = proc.stdout.read().decode()
    if not result_file.exists():
        print(output)
        sys.exit("wrk produced no result")
    wrk = json.loads(result_file.read_text())
    seconds = wrk["duration_us"] / 1e6
    ok = wrk["requests"] - wrk["status_errors"]
    return {
        "mode": "saturate",
        "path": f"{prefix}/{args.path}",
        "requests": wrk["requests"],
        "requests_per_s": round(wrk["requests"] / seconds, 1),
        "ok_2xx": ok,
        "status_errors": wrk["status_errors"],
        "timeouts": wrk["timeouts"],
        "socket_errors": {k: wrk[k] for k in ("read_errors", "write_errors", "connect_errors")},
        "latency_ms": {k: wrk[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")},
        "cpu_share_of_one_core": cpu,
        "wrk_cpu_share_of_one_core": round(wrk_cpu / cpu["wall_s"], 3),
        "wrk_output": output.strip().splitlines()[-6:],
        "stats_2xx": ok if args.path == "stats" else 0,
        "connection_ids": connection_ids,
        "run": run,
    }


# ---------------------------------------------------------------- shared


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        sys.exit("refusing to send load anywhere but loopback")
    return parts.hostname, parts.port or 80, parts.path.rstrip("/")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summary(rec: Recorder, wall: float | None) -> dict:
    endpoints = {}
    for name, values in rec.latencies.items():
        endpoints[name] = {
            "requests": len(values),
            "per_s": round(len(values) / wall, 1) if wall else None,
            "p50_ms": _pct(values, 0.50),
            "p95_ms": _pct(values, 0.95),
            "p99_ms": _pct(values, 0.99),
            "mean_ms": round(statistics.fmean(values), 2) if values else 0,
            "statuses": dict(rec.statuses[name]),
        }
    return {
        "endpoints": endpoints,
        "errors": {f"{n} {s} {c}": v for (n, s, c), v in rec.error_codes.items()},
    }


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _issues_seen(users: list[str]) -> set[str]:
    """Impaired users that have a packet-loss issue (raised on what they receive)."""
    _django()
    from api.quality.models import Issue

    return set(
        Issue.objects.filter(code="high_packet_loss", participant__participant_id__in=users)
        .values_list("participant__participant_id", flat=True)
        .distinct()
    )


def verify(result: dict, wait_s: float) -> dict:
    """Every stats sample answered 2xx is stored exactly once."""
    _django()
    from django.db.models import Count

    from api.events.models import StatsSample

    ids = result["connection_ids"]
    deadline = time.monotonic() + wait_s
    while True:
        stored = StatsSample.objects.filter(connection_id__in=ids).count()
        if stored >= result["stats_2xx"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    duplicated = (
        StatsSample.objects.filter(connection_id__in=ids)
        .values("connection_id", "digest")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return {
        "answered_2xx": result["stats_2xx"],
        "stored": stored,
        "lost": max(0, result["stats_2xx"] - stored),
        "stored_without_2xx": max(0, stored - result["stats_2xx"]),
        "duplicated": duplicated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["realistic", "saturate", "sdk"])
    parser.add_argument("--url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--duration", type=float, default=60, help="seconds of stats traffic")
    parser.add_argument("--interval", type=float, default=1.0, help="stats interval, seconds")
    parser.add_argument("--conferences", type=int, default=50)
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument(
        "--impaired",
        type=float,
        default=0.1,
        help="share of participants that get packet loss (realistic, sdk)",
    )
    parser.add_argument("--loss", type=float, default=0.1, help="loss they get")
    parser.add_argument(
        "--loss-from",
        type=float,
        help="seconds into the run the loss starts (sdk; default a third of the run)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=75,
        help="seconds after the run for answers and retries still due (sdk)",
    )
    parser.add_argument(
        "--browser-connections",
        type=int,
        default=CHROME_CONNECTIONS_PER_HOST,
        help="HTTP connections per participant, Chrome's per-host limit (sdk)",
    )
    parser.add_argument("--clients", type=int, default=64, help="wrk connections (saturate)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (saturate)")
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="SDK connections whose stats wrk posts (saturate)",
    )
    parser.add_argument(
        "--path",
        default="stats",
        help="endpoint the stats go to (saturate, sdk): stats, or bench/noop to measure the"
        " generator against a route that does nothing",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="pid whose process tree's CPU is reported (repeat)",
    )
    parser.add_argument(
        "--verify", action="store_true", help="check the database (same DATABASE_URL as the server)"
    )
    parser.add_argument(
        "--verify-wait", type=float, default=60, help="seconds to wait for a queued sink to drain"
    )
    parser.add_argument("--run", default="")
    parser.add_argument("--json", type=Path, help="write the result here too")
    args = parser.parse_args()
    mode = {"realistic": realistic, "saturate": saturate, "sdk": sdk}[args.mode]
    result = asyncio.run(mode(args))
    if args.verify:
        result["verify"] = verify(result, args.verify_wait)
    result.pop("connection_ids", None)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)


if __name__ == "__main__":
    main()
