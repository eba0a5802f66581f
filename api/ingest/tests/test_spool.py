"""The queued sink's spool (api.ingest.spool): what is put is forwarded in
order, survives Redis being away and the process being killed, and leaves
no file behind once it is in Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from api.ingest.spool import SUFFIX, Spool, SpoolFull, record, records_read

CONNECTION = b"c" * 32


class Redis:
    """Stands in for the accept script: collects what it is sent, fails
    while ``down``, answers -1 for the connections in ``ended``."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.calls = 0
        self.down = False
        self.ended: set[bytes] = set()
        self.lock = threading.Lock()

    def __call__(self, items: list[tuple[bytes, bytes]]) -> list[int]:
        with self.lock:
            self.calls += 1
            if self.down:
                raise ConnectionError("redis is away")
            self.got.extend(message for _, message in items)
            return [-1 if connection in self.ended else 1 for connection, _ in items]


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


def test_samples_put_are_forwarded_in_order_and_no_file_is_left(tmp_path):
    redis = Redis()
    spool = Spool(tmp_path, redis)

    for i in range(50):
        spool.put(CONNECTION, b"m%d" % i)

    assert spool.flush(timeout=10)
    assert redis.got == [b"m%d" % i for i in range(50)]
    assert spool.close()
    assert spool_files(tmp_path) == []


def test_samples_wait_on_disk_while_redis_is_away_and_go_out_when_it_is_back(tmp_path):
    redis = Redis()
    redis.down = True
    spool = Spool(tmp_path, redis, retry_seconds=0.01)

    for i in range(5):
        spool.put(CONNECTION, b"m%d" % i)

    assert not spool.flush(timeout=0.2)
    assert redis.calls >= 1 and redis.got == []
    assert [m for _, m in records_read(spool_files(tmp_path)[0])] == [b"m%d" % i for i in range(5)]

    redis.down = False
    assert spool.flush(timeout=10)
    assert redis.got == [b"m%d" % i for i in range(5)]
    spool.close()


def test_a_full_spool_refuses_and_accepts_again_once_forwarded(tmp_path):
    redis = Redis()
    redis.down = True
    spool = Spool(tmp_path, redis, memory_limit=100, retry_seconds=0.01)
    spool.put(CONNECTION, b"x" * 60)

    with pytest.raises(SpoolFull):
        spool.put(CONNECTION, b"y" * 60)

    redis.down = False
    assert spool.flush(timeout=10)
    spool.put(CONNECTION, b"y" * 60)
    assert spool.flush(timeout=10)
    assert redis.got == [b"x" * 60, b"y" * 60]
    spool.close()


def test_files_are_rotated_and_removed_once_forwarded(tmp_path):
    redis = Redis()
    redis.down = True
    spool = Spool(tmp_path, redis, file_limit=200, retry_seconds=0.01)
    for i in range(10):
        spool.put(CONNECTION, b"%03d" % i + b"." * 60)
    assert len(spool_files(tmp_path)) > 2

    redis.down = False
    assert spool.flush(timeout=10)

    # Only the file being written to is left, and close removes it.
    assert len(spool_files(tmp_path)) == 1
    assert spool.close()
    assert spool_files(tmp_path) == []
    assert [m[:3] for m in redis.got] == [b"%03d" % i for i in range(10)]


def test_the_connection_of_a_sample_redis_reports_ended_is_told(tmp_path):
    redis = Redis()
    redis.ended.add(b"e" * 32)
    told = []
    spool = Spool(tmp_path, redis, on_ended=told.append)

    spool.put(CONNECTION, b"live")
    spool.put(b"e" * 32, b"late")

    assert spool.flush(timeout=10)
    assert told == [b"e" * 32]
    spool.close()


_KILLED_PROCESS = textwrap.dedent(
    """
    import os, signal, sys
    from api.ingest.spool import Spool

    def away(items):
        raise ConnectionError("redis is away")

    spool = Spool(sys.argv[1], away, retry_seconds=60)
    for i in range(5):
        spool.put(b"c" * 32, b"m%d" % i)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_the_samples_of_a_killed_process_are_forwarded_by_another(tmp_path):
    # Given a process that accepted five samples and was killed before
    # Redis could take them
    process = subprocess.run(
        [sys.executable, "-c", _KILLED_PROCESS, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        check=False,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    assert len(spool_files(tmp_path)) == 1

    # When another process of the node looks for orphans
    redis = Redis()
    spool = Spool(tmp_path, redis)
    sent = spool.recover_orphans()

    # Then it forwards them, and the file is gone
    assert sent == 5
    assert redis.got == [b"m%d" % i for i in range(5)]
    assert spool_files(tmp_path) == []
    spool.close()


def test_the_files_of_a_live_process_are_left_to_it(tmp_path):
    away = Redis()
    away.down = True
    alive = Spool(tmp_path, away, retry_seconds=60)
    alive.put(CONNECTION, b"mine")

    redis = Redis()
    other = Spool(tmp_path, redis)

    assert other.recover_orphans() == 0
    assert redis.got == [] and len(spool_files(tmp_path)) == 1
    other.close()
    # Closed without Redis, the owner keeps the file for a later process.
    assert not alive.close(timeout=0.1)
    assert len(spool_files(tmp_path)) == 1
    assert Spool(tmp_path, redis).recover_orphans() == 1
    assert redis.got == [b"mine"]


def test_a_record_torn_by_a_crash_ends_its_file(tmp_path):
    path = tmp_path / f"host-1-x-00000001{SUFFIX}"
    whole = record(CONNECTION, b"first") + record(CONNECTION, b"second")
    torn = record(CONNECTION, b"third")[:-2]
    path.write_bytes(whole + torn)

    assert [m for _, m in records_read(path)] == [b"first", b"second"]

    corrupt = bytearray(whole)
    corrupt[-1] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    assert [m for _, m in records_read(path)] == [b"first"]


def test_spool_files_are_private(tmp_path):
    spool = Spool(tmp_path, Redis())
    spool.put(CONNECTION, b"m")
    assert os.stat(spool_files(tmp_path)[0]).st_mode & 0o077 == 0
    spool.close()
