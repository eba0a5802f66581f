"""The queued sink's spool: accepted samples on local disk, forwarded to
Redis in batches by a thread of the process.

Waiting for Redis in every stats request cost more CPU than the rest of the
request (a round trip is two system calls and two context switches on each
side, whatever it carries). With the spool, a request appends its message to
a file of its process (one ``write``, no waiting) and is answered; a thread
sends everything appended since its last call in one script call.

Durability: a record is in the kernel's page cache when its request is
answered, so it survives the process: a process that dies leaves its files,
and another process of the node (each looks every few seconds, and at
start) forwards them. Files are synced to disk every
``SPOOL_FSYNC_SECONDS``, the guarantee Redis gives with ``appendfsync
everysec``. The spool directory must therefore outlive the web processes
(a volume of the node, not a container's scratch space), and a node taken
away for good is drained first: stop its web processes, then run
``manage.py spool_forward``. (granian ends its workers with SIGTERM without
running Python's exit hooks, so a stopped process leaves its files like a
killed one.) Files are rotated every ``file_limit`` bytes (1 MB, about 120
samples) and removed once forwarded, so a process that stops leaves little
that was already sent; sending it again is harmless.

A record: length (4 bytes), CRC-32 (4 bytes), then the connection id (32
hex bytes) and the message. A record torn by a crash fails its CRC and ends
the reading of its file. Redelivery is harmless: the worker stores a sample
once whatever the copies (its id and the report digest are unique keys).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import struct
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger("api.ingest")

_HEADER = struct.Struct(">II")
_ID_BYTES = 32
SUFFIX = ".spool"

# (connection id hex, message) pairs → per pair 1 (queued) or -1 (queued, but
# the connection had ended).
Send = Callable[[list[tuple[bytes, bytes]]], list[int]]


class SpoolFull(Exception):
    """More is waiting for Redis than ``memory_limit`` allows."""


def record(connection_hex: bytes, message: bytes) -> bytes:
    body = connection_hex + message
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def records_read(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The whole records of a spool file, in order; stops at a torn one."""
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        body = data[offset + _HEADER.size : offset + _HEADER.size + length]
        if len(body) != length or zlib.crc32(body) != crc or length < _ID_BYTES:
            logger.warning("spool %s: a torn record at byte %d ends the file", path.name, offset)
            return
        yield body[:_ID_BYTES], body[_ID_BYTES:]
        offset += _HEADER.size + length


class _File:
    __slots__ = ("path", "fd", "seq")

    def __init__(self, path: Path, seq: int) -> None:
        self.path, self.seq = path, seq
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        # Held while this process lives: a file nobody holds is an orphan.
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)


class Spool:
    """One per process. ``put`` appends and returns; a thread forwards with
    ``send`` (batches of at most ``batch_limit``) and calls ``on_ended`` with
    the connection id of each message Redis reported ended."""

    def __init__(
        self,
        directory: Path,
        send: Send,
        *,
        on_ended: Callable[[bytes], None] = lambda connection_hex: None,
        fsync_seconds: float = 1.0,
        batch_limit: int = 256,
        memory_limit: int = 256 * 1024 * 1024,
        file_limit: int = 1024 * 1024,
        orphan_scan_seconds: float = 5.0,
        retry_seconds: float = 0.5,
        linger_seconds: float = 0.005,
        resend_seconds: float = 60.0,
        resend_limit: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._send = send
        self._on_ended = on_ended
        self._fsync_seconds = fsync_seconds
        self._batch_limit = batch_limit
        self._memory_limit = memory_limit
        self._file_limit = file_limit
        self._orphan_scan_seconds = orphan_scan_seconds
        self._retry_seconds = retry_seconds
        self._linger = linger_seconds
        self._prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}-"
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # (file seq, connection hex, message), in the order they were written.
        self._pending: deque[tuple[int, bytes, bytes]] = deque()
        self._pending_bytes = 0
        self._in_flight = 0  # taken by the thread, not yet answered by Redis
        self._files: list[_File] = []  # oldest first; the last is written to
        self._file_bytes = 0
        self._seq = 0
        self._dirty = False
        self._stopping = False
        self._idle = False
        self._thread: threading.Thread | None = None
        self._synced = 0.0
        self._scanned = 0.0  # orphans are looked for at once
        # What was forwarded lately: (forwarded at, connection hex, message).
        # Redis acknowledged it, but a Redis that restarts without its data
        # loses what the worker had not read yet; sent again then.
        self._resend_seconds = resend_seconds
        self._resend_limit = resend_limit
        self._sent: deque[tuple[float, bytes, bytes]] = deque()
        self._sent_bytes = 0
        self._reset_seen = False
        self.resent = 0

    # ------------------------------------------------------------- requests

    def put(self, connection_hex: bytes, message: bytes) -> None:
        data = record(connection_hex, message)
        with self._lock:
            if self._stopping:
                raise SpoolFull("the spool is closing")
            if self._pending_bytes + len(message) > self._memory_limit:
                raise SpoolFull(f"{self._pending_bytes} bytes wait for Redis")
            if not self._files or self._file_bytes >= self._file_limit:
                self._file_open()
            os.write(self._files[-1].fd, data)
            self._file_bytes += len(data)
            self._pending.append((self._seq, connection_hex, message))
            self._pending_bytes += len(message)
            self._dirty = True
            if self._idle:
                self._changed.notify_all()
        if self._thread is None:
            self._start()

    def _file_open(self) -> None:
        self._seq += 1
        path = self.directory / f"{self._prefix}{self._seq:08d}{SUFFIX}"
        self._files.append(_File(path, self._seq))
        self._file_bytes = 0

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="pm-spool", daemon=True)
            self._thread.start()

    # --------------------------------------------------------------- thread

    def _run(self) -> None:
        # Whatever goes wrong in a turn is logged and the thread goes on: it
        # is the only way out for this process's accepted samples.
        while True:
            try:
                if self._turn():
                    return
            except Exception:
                logger.exception("spool: forwarding failed; retrying")
                with self._lock:
                    self._changed.wait(timeout=self._retry_seconds)

    def _turn(self) -> bool:
        """Forward one batch, or do the periodic work; True when stopped."""
        with self._lock:
            while not self._pending and not self._stopping:
                if time.monotonic() - self._scanned >= self._orphan_scan_seconds:
                    break
                self._idle = True
                self._changed.wait(timeout=min(self._fsync_seconds or 1.0, 1.0))
                self._idle = False
            if self._stopping and not self._pending:
                self._changed.notify_all()
                return True
            if self._linger and len(self._pending) < self._batch_limit and not self._stopping:
                # Let the batch fill: one call per few milliseconds costs
                # the process less than one per sample.
                self._changed.wait(timeout=self._linger)
            count = min(len(self._pending), self._batch_limit)
            batch = [self._pending.popleft() for _ in range(count)]
            self._in_flight = count
        if batch and not self._forward(batch):
            with self._lock:
                self._pending.extendleft(reversed(batch))
                self._in_flight = 0
                self._changed.notify_all()
                if self._stopping:
                    return True
                self._changed.wait(timeout=self._retry_seconds)
            return False
        now = time.monotonic()
        if self._fsync_seconds and now - self._synced >= self._fsync_seconds:
            self._sync()
            self._synced = now
        if now - self._scanned >= self._orphan_scan_seconds:
            self.recover_orphans()
            self._scanned = time.monotonic()
        return False

    def _forward(self, batch: list[tuple[int, bytes, bytes]]) -> bool:
        try:
            results = self._send([(hex_, message) for _, hex_, message in batch])
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} answers for {len(batch)} samples")
        except Exception as exc:
            logger.warning(
                "spool: %d samples wait for Redis (%s); retrying",
                len(self._pending) + len(batch),
                exc.__class__.__name__,
            )
            return False
        for (_, hex_, _), result in zip(batch, results, strict=True):
            if result == -1:
                self._on_ended(hex_)
        self._recent_keep(batch)
        with self._lock:
            self._pending_bytes -= sum(len(message) for _, _, message in batch)
            # Files older than the oldest waiting record are all in Redis.
            oldest = self._pending[0][0] if self._pending else self._seq + 1
            done = [f for f in self._files[:-1] if f.seq < oldest]
            self._files = [f for f in self._files if f not in done]
        for spent in done:
            spent.remove()
        with self._lock:
            # Only now is the batch done: flush() also means "files removed".
            self._in_flight = 0
            self._changed.notify_all()
        return True

    def redis_reset_seen(self) -> None:
        """The send that is running found Redis without the stream's epoch
        marker: its first use, or Redis came back without its data. What
        was forwarded before this batch is sent again (a sample the worker
        had stored already is recognised and stored once)."""
        self._reset_seen = True

    def _recent_keep(self, batch: list[tuple[int, bytes, bytes]]) -> None:
        """Runs in the thread after each forwarded batch."""
        now = time.monotonic()
        if self._reset_seen:
            self._reset_seen = False
            again = list(self._sent)
            self._sent.clear()
            self._sent_bytes = 0
            if again:
                logger.warning(
                    "spool: Redis had lost the stream; sending again the %d samples "
                    "forwarded in the last %.0f s",
                    len(again),
                    self._resend_seconds,
                )
                with self._lock:
                    self._pending.extendleft(
                        (self._seq, hex_, message) for _, hex_, message in reversed(again)
                    )
                    self._pending_bytes += sum(len(message) for _, _, message in again)
                self.resent += len(again)
        if not self._resend_seconds:
            return
        for _, hex_, message in batch:
            self._sent.append((now, hex_, message))
            self._sent_bytes += len(message)
        while self._sent and (
            now - self._sent[0][0] > self._resend_seconds or self._sent_bytes > self._resend_limit
        ):
            self._sent_bytes -= len(self._sent.popleft()[2])

    def _sync(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            fds = [f.fd for f in self._files]
        for fd in fds:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing left to sync
                os.fdatasync(fd)

    # ------------------------------------------------------------- orphans

    def recover_orphans(self) -> int:
        """Forward the files of processes that died; returns the samples
        sent. A file still locked belongs to a live process."""
        sent = 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path.name.startswith(self._prefix):
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if not path.exists():  # forwarded and removed by another process
                    continue
                records = list(records_read(path))
                for start in range(0, len(records), self._batch_limit):
                    self._send(records[start : start + self._batch_limit])
                path.unlink()
                sent += len(records)
                logger.info("spool: forwarded %d samples left by %s", len(records), path.name)
            except Exception as exc:
                logger.warning(
                    "spool: %s is kept for later (%s)", path.name, exc.__class__.__name__
                )
            finally:
                os.close(fd)
        return sent

    # ---------------------------------------------------------- lifecycle

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything put so far is in Redis; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._in_flight:
                if self._thread is None:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(timeout=remaining)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Forward what is held (for at most ``timeout`` seconds), then stop.
        Files still holding records stay for another process to forward."""
        flushed = self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=timeout)
        with self._lock:
            files, self._files = self._files, []
            kept = bool(self._pending)
        for spool_file in files:
            if kept:
                os.fsync(spool_file.fd)
                os.close(spool_file.fd)
            else:
                spool_file.remove()
        return flushed and not kept

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._pending) + self._in_flight
