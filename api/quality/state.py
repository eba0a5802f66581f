"""What live detection remembers between two samples of a connection, in
one place every process sees.

Per connection: the previous counters of every stream (rates), the
hysteresis of every rule (windows, open issues), the connection's ICE and
connection state. Per participant of a conference: what it did to its own
media (tracks ended, muted, cameras stopped), which its peers' detectors
read to tell a stopped camera from a broken stream.

Two stores behind one interface (:class:`QualityState`):

* :class:`RedisState` — with the queued sink (``STATE_STORE`` ``auto``),
  or with the direct sink when ``STATE_STORE`` is ``redis``. Web processes write participant marks when a track
  or mute event arrives; the process that analyses a connection's sample
  (a web process with the direct sink, any ingest worker with the queued
  one) reads the connection's state and its two participants' marks in one
  round trip and writes the state back in one more. The worker reads the
  states of a whole batch in one round trip and writes them after the
  batch's commit (:meth:`RedisState.batch`). A restarted process, or the
  next sample going to another process, continues where the last one
  stopped: rates over the normal interval, open issues resolving when their
  condition clears.
* :class:`MemoryState` — otherwise (the direct sink: development, SQLite,
  one web process): bounded LRU maps in this process.

``/v1/stats`` spends no SQL statement on this (its count on PostgreSQL is
pinned at two). Order: a connection's samples are analysed under
:meth:`locked` in one process; the SDK sends one sample of a connection at
a time, and a mark is written before the request that caused it is
answered, so every later sample sees it.

Rule states that carry nothing (not open, only good values in the window)
are not stored: they are equivalent to a fresh one, and a healthy call's
state stays its counters.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from api.quality.conf import quality_setting
from api.quality.detectors.engine import RuleState


@dataclass
class ConnectionState:
    """Per connection: stream counters (``metrics``), hysteresis state per
    (code, subject), and the connection's ICE/connection state as events
    reported it."""

    connection_id: Any
    counters: dict[str, dict] = field(default_factory=dict)
    rules: dict[tuple[str, str], RuleState] = field(default_factory=dict)
    ice_state: str | None = None
    connection_state: str | None = None
    disconnected_since: datetime | None = None
    setup_started: datetime | None = None
    connected: bool = False
    setup_checked: bool = False
    established: bool = False
    # The connection's open issues were read into ``rules`` (after a
    # restart, or state lost, they resolve when their condition clears).
    seeded: bool = False

    def rule(self, code: str, subject: str) -> RuleState:
        key = (code, subject)
        state = self.rules.get(key)
        if state is None:
            state = self.rules[key] = RuleState()
        return state


@dataclass
class ParticipantMarks:
    """What a participant of a conference did to its own media, as its
    events said: tracks it ended (track identifiers), kinds of local tracks
    it stopped, whether it muted itself. Its peers' detectors read it to tell
    a stopped camera from a broken stream."""

    ended_idents: set[str] = field(default_factory=set)
    stopped_kinds: set[str] = field(default_factory=set)
    muted_idents: set[str] = field(default_factory=set)
    muted: bool = False
    # When a mark was lifted (unmuted, camera restarted), by ``muted``,
    # ``kind:<kind>``, ``track:<identifier>``: a sample whose interval
    # started before that still counts as marked, so a worker that analyses
    # it after the lifting event arrived judges it as it was.
    lifted: dict[str, datetime] = field(default_factory=dict)

    def lift(self, key: str, at: datetime) -> None:
        self.lifted[key] = at

    def lifted_after(self, key: str, at: datetime) -> bool:
        when = self.lifted.get(key)
        return when is not None and when > at


@dataclass(frozen=True)
class SampleState:
    """What one sample's analysis reads: its connection's state and the
    marks of the connection's participant and peer."""

    connection: ConnectionState
    own: ParticipantMarks
    peer: ParticipantMarks


class QualityState(Protocol):
    def locked(self, connection_id: Any) -> Any: ...

    def sample_load(
        self, connection_id: Any, conference_id: Any, participant_id: Any, peer_id: Any
    ) -> SampleState: ...

    def connection_load(self, connection_id: Any) -> ConnectionState: ...

    def connection_peek(self, connection_id: Any) -> ConnectionState | None: ...

    def connection_save(
        self, state: ConnectionState, *, stats: bool = True, events: bool = True
    ) -> None: ...

    def connection_drop(self, connection_id: Any) -> None: ...

    def marks_load(self, conference_id: Any, participant_id: Any) -> ParticipantMarks: ...

    def marks_save(
        self, conference_id: Any, participant_id: Any, marks: ParticipantMarks
    ) -> None: ...

    def conference_drop(self, conference_id: Any) -> None: ...

    def batch(self, keys: Iterable[tuple[Any, Any, Any, Any]]) -> Any: ...

    def clear(self) -> None: ...


class _Stripes:
    _STRIPES = 64

    def __init__(self) -> None:
        self._locks = [threading.RLock() for _ in range(self._STRIPES)]

    @contextmanager
    def locked(self, connection_id: Any) -> Iterator[None]:
        with self._locks[hash(connection_id) % self._STRIPES]:
            yield


class MemoryState(_Stripes):
    """The in-process :class:`QualityState`: bounded LRU maps, striped locks.

    gunicorn's threaded workers may process two samples of one connection at
    once (a retry beside the next sample); the connection's stripe lock
    serialises them so counters and hysteresis are updated in order."""

    def __init__(self) -> None:
        super().__init__()
        self._connections: OrderedDict[Any, ConnectionState] = OrderedDict()
        self._marks: OrderedDict[tuple[Any, Any], ParticipantMarks] = OrderedDict()
        self._guard = threading.Lock()

    def _limit(self) -> int:
        return int(quality_setting("STATE_MAX_CONNECTIONS"))

    def sample_load(
        self, connection_id: Any, conference_id: Any, participant_id: Any, peer_id: Any
    ) -> SampleState:
        return SampleState(
            self.connection_load(connection_id),
            self.marks_load(conference_id, participant_id),
            self.marks_load(conference_id, peer_id),
        )

    def connection_load(self, connection_id: Any) -> ConnectionState:
        with self._guard:
            state = self._connections.get(connection_id)
            if state is not None:
                self._connections.move_to_end(connection_id)
                return state
            state = self._connections[connection_id] = ConnectionState(connection_id)
            while len(self._connections) > self._limit():
                self._connections.popitem(last=False)
            return state

    def connection_peek(self, connection_id: Any) -> ConnectionState | None:
        with self._guard:
            return self._connections.get(connection_id)

    def connection_save(
        self, state: ConnectionState, *, stats: bool = True, events: bool = True
    ) -> None:
        # The loaded object is the stored one; nothing to write back.
        pass

    def connection_drop(self, connection_id: Any) -> None:
        with self._guard:
            self._connections.pop(connection_id, None)

    def marks_load(self, conference_id: Any, participant_id: Any) -> ParticipantMarks:
        key = (conference_id, participant_id)
        with self._guard:
            marks = self._marks.get(key)
            if marks is None:
                marks = self._marks[key] = ParticipantMarks()
                while len(self._marks) > self._limit():
                    self._marks.popitem(last=False)
            else:
                self._marks.move_to_end(key)
            return marks

    def marks_save(self, conference_id: Any, participant_id: Any, marks: ParticipantMarks) -> None:
        pass

    def conference_drop(self, conference_id: Any) -> None:
        with self._guard:
            for key in [k for k in self._marks if k[0] == conference_id]:
                del self._marks[key]

    @contextmanager
    def batch(self, keys: Iterable[tuple[Any, Any, Any, Any]]) -> Iterator[None]:
        yield

    def clear(self) -> None:
        with self._guard:
            self._connections.clear()
            self._marks.clear()


# ------------------------------------------------------------- encoding


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _rule_empty(rule: RuleState) -> bool:
    return not rule.open and rule.run_start is None and not any(e[0] for e in rule.window)


# The codes whose hysteresis the connection's state events drive (the web
# process that takes the event writes them); every other rule is driven by
# the stats samples (the process that analyses them writes those).
EVENT_CODES = frozenset(
    {
        "connection_disconnected",
        "slow_connection_setup",
        "ice_failed",
        "connection_failed",
        "icecandidateerror",
    }
)


def _rule_encode(rule: RuleState) -> list:
    return [
        [[bad, start, value] for bad, start, value in rule.window],
        rule.run_start,
        rule.open,
        rule.onset,
        rule.peak,
        rule.written_peak,
        rule.severity,
        rule.clear_streak,
        rule.clear_since,
        rule.evidence,
    ]


def _rules_encode(state: ConnectionState, *, events: bool) -> dict[str, list]:
    return {
        f"{code}\x1f{subject}": _rule_encode(rule)
        for (code, subject), rule in state.rules.items()
        if (code in EVENT_CODES) == events and not _rule_empty(rule)
    }


def stats_part_encode(state: ConnectionState) -> bytes:
    """What the stats samples drive: counters, stream and pair rules."""
    return orjson.dumps(
        [state.counters, _rules_encode(state, events=False), state.established, state.seeded]
    )


def events_part_encode(state: ConnectionState) -> bytes:
    """What the connection's events drive: ICE and connection state, setup."""
    return orjson.dumps(
        [
            _rules_encode(state, events=True),
            state.ice_state,
            state.connection_state,
            state.disconnected_since,
            state.setup_started,
            state.connected,
            state.setup_checked,
        ]
    )


def _rules_decode(state: ConnectionState, rules: dict[str, list]) -> None:
    for key, (
        window,
        run_start,
        is_open,
        onset,
        peak,
        written,
        severity,
        streak,
        since,
        ev,
    ) in rules.items():
        code, subject = key.split("\x1f", 1)
        state.rules[(code, subject)] = RuleState(
            window=[(bad, datetime.fromisoformat(start), value) for bad, start, value in window],
            run_start=_time(run_start),
            open=is_open,
            onset=_time(onset),
            peak=peak,
            written_peak=written,
            severity=severity,
            clear_streak=streak,
            clear_since=_time(since),
            evidence=ev or {},
        )


def connection_decode(
    connection_id: Any, stats_part: bytes | None, events_part: bytes | None
) -> ConnectionState:
    state = ConnectionState(connection_id)
    if stats_part:
        counters, rules, established, seeded = orjson.loads(stats_part)
        state.counters, state.established, state.seeded = counters, established, seeded
        _rules_decode(state, rules)
    if events_part:
        rules, ice, conn, disconnected, setup, connected, checked = orjson.loads(events_part)
        state.ice_state, state.connection_state = ice, conn
        state.disconnected_since, state.setup_started = _time(disconnected), _time(setup)
        state.connected, state.setup_checked = connected, checked
        _rules_decode(state, rules)
    return state


def marks_encode(marks: ParticipantMarks) -> bytes:
    return orjson.dumps(
        [
            sorted(marks.ended_idents),
            sorted(marks.stopped_kinds),
            sorted(marks.muted_idents),
            marks.muted,
            marks.lifted,
        ]
    )


def marks_decode(raw: bytes | None) -> ParticipantMarks:
    if not raw:
        return ParticipantMarks()
    ended, stopped, muted_idents, muted, lifted = orjson.loads(raw)
    return ParticipantMarks(
        set(ended),
        set(stopped),
        set(muted_idents),
        bool(muted),
        {key: datetime.fromisoformat(at) for key, at in lifted.items()},
    )


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _command(*parts: bytes) -> bytes:
    """One Redis command in RESP: redis-py's pipeline machinery cost more
    than the two commands it sends per sample."""
    return b"*%d\r\n%b" % (len(parts), b"".join(_bulk(part) for part in parts))


def _hex(value: Any) -> bytes:
    return (value.hex if isinstance(value, uuid.UUID) else str(value)).encode()


class RedisState(_Stripes):
    """:class:`QualityState` in Redis (see the module docstring).

    Keys: ``<prefix>c:<connection>`` the connection's state, a hash of two
    fields: ``s``, what its stats samples drive (written by the process
    that analyses them), and ``e``, what its state events drive (written by
    the web process that takes them; by a sample only when the passing of
    time raised a connectivity issue), so neither overwrites the other's;
    ``<prefix>m:<conference>`` the marks of the conference's participants
    (a hash by participant). Both expire ``STATE_TTL_SECONDS`` after their
    last write, so a call that never ended cleanly leaves nothing behind."""

    def __init__(self, url: str, prefix: str = "pm:q:") -> None:
        super().__init__()
        import redis

        self.url = url
        self.redis = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
        )
        self.prefix = prefix.encode()
        self._local = threading.local()
        self._cache: OrderedDict[Any, tuple[bytes, ConnectionState]] = OrderedDict()
        self._cache_guard = threading.Lock()

    # The states this process wrote last, by connection, with the version
    # it wrote: while Redis still holds that version (no other process
    # wrote since), the next sample reuses the object instead of decoding.
    # An entry is taken out while its sample is analysed, and put back
    # with the new version once saved, so a failed sample leaves none.
    def _cache_take(self, connection_id: Any) -> tuple[bytes, ConnectionState] | None:
        with self._cache_guard:
            return self._cache.pop(connection_id, None)

    def _cache_put(self, connection_id: Any, version: bytes, state: ConnectionState) -> None:
        with self._cache_guard:
            self._cache[connection_id] = (version, state)
            while len(self._cache) > int(quality_setting("STATE_MAX_CONNECTIONS")):
                self._cache.popitem(last=False)

    def _cache_drop(self, connection_id: Any) -> None:
        with self._cache_guard:
            self._cache.pop(connection_id, None)

    def _raw(self) -> Any:
        """This thread's own connection, for the two hot-path calls."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pool = self.redis.connection_pool
            connection = self._local.connection = pool.connection_class(**pool.connection_kwargs)
        return connection

    def _send(self, *commands: bytes) -> list[Any]:
        """Send commands in one write, read their answers in order."""
        connection = self._raw()
        try:
            connection.send_packed_command([b"".join(commands)], check_health=True)
            return [connection.read_response() for _ in commands]
        except Exception:
            connection.disconnect()  # the next call reconnects
            raise

    # keys
    def _connection_key(self, connection_id: Any) -> bytes:
        return self.prefix + b"c:" + _hex(connection_id)

    def _marks_key(self, conference_id: Any) -> bytes:
        return self.prefix + b"m:" + _hex(conference_id)

    def _ttl(self) -> int:
        return int(quality_setting("STATE_TTL_SECONDS"))

    # batches (the worker)
    @property
    def _batch(self) -> dict | None:
        return getattr(self._local, "batch", None)

    @contextmanager
    def batch(self, keys: Iterable[tuple[Any, Any, Any, Any]]) -> Iterator[None]:
        """Within: the states of these (connection, conference, participant,
        peer) are read once, in one round trip, and every save is kept; on a
        normal exit (after the caller's commit) they are written in one
        round trip. On an exception nothing is written: the batch is
        retried from the states as they were."""
        wanted = list(dict.fromkeys(keys))
        # Written out in RESP on the thread's own connection: a batch
        # names a few hundred connections, and redis-py's pipeline cost
        # more per command than the command itself.
        commands: list[bytes] = []
        for connection_id, conference_id, participant_id, peer_id in wanted:
            commands.append(_command(b"HMGET", self._connection_key(connection_id), b"s", b"e"))
            commands.append(
                _command(
                    b"HMGET", self._marks_key(conference_id), _hex(participant_id), _hex(peer_id)
                )
            )
        replies = self._send(*commands) if commands else []
        states: dict[Any, ConnectionState] = {}
        marks: dict[tuple[Any, Any], ParticipantMarks] = {}
        for index, (connection_id, conference_id, participant_id, peer_id) in enumerate(wanted):
            (stats_part, events_part), (own, peer) = replies[2 * index], replies[2 * index + 1]
            states[connection_id] = connection_decode(connection_id, stats_part, events_part)
            marks.setdefault((conference_id, participant_id), marks_decode(own))
            marks.setdefault((conference_id, peer_id), marks_decode(peer))
        self._local.batch = {"states": states, "marks": marks, "dirty": {}}
        try:
            yield
            dirty = self._local.batch["dirty"]
        finally:
            self._local.batch = None
        commands = []
        for state, stats, events in dirty.values():
            commands += self._save(state, stats=stats, events=events)
        if commands:
            self._send(*commands)

    # the interface
    def sample_load(
        self, connection_id: Any, conference_id: Any, participant_id: Any, peer_id: Any
    ) -> SampleState:
        batch = self._batch
        if batch is not None and connection_id in batch["states"]:
            return SampleState(
                batch["states"][connection_id],
                batch["marks"].get((conference_id, participant_id)) or ParticipantMarks(),
                batch["marks"].get((conference_id, peer_id)) or ParticipantMarks(),
            )
        (version, stats_part, events_part), (own, peer) = self._send(
            _command(b"HMGET", self._connection_key(connection_id), b"v", b"s", b"e"),
            _command(b"HMGET", self._marks_key(conference_id), _hex(participant_id), _hex(peer_id)),
        )
        cached = self._cache_take(connection_id)
        if cached is not None and version is not None and cached[0] == version:
            # This process wrote the stored version last: its object is it.
            state = cached[1]
        else:
            state = connection_decode(connection_id, stats_part, events_part)
        return SampleState(state, marks_decode(own), marks_decode(peer))

    def connection_load(self, connection_id: Any) -> ConnectionState:
        return self.connection_peek(connection_id) or ConnectionState(connection_id)

    def connection_peek(self, connection_id: Any) -> ConnectionState | None:
        batch = self._batch
        if batch is not None and connection_id in batch["states"]:
            return batch["states"][connection_id]
        stats_part, events_part = cast(
            list[bytes | None], self.redis.hmget(self._connection_key(connection_id), [b"s", b"e"])
        )
        if stats_part is None and events_part is None:
            return None
        return connection_decode(connection_id, stats_part, events_part)

    def _save(self, state: ConnectionState, *, stats: bool, events: bool) -> list[bytes]:
        """The commands that write a batch's state of a connection."""
        fields: list[bytes] = []
        if stats:
            fields += [b"s", stats_part_encode(state)]
        if events:
            fields += [b"e", events_part_encode(state)]
        if not fields:
            return []
        key = self._connection_key(state.connection_id)
        self._cache_drop(state.connection_id)
        return [
            _command(b"HSET", key, *fields, b"v", os.urandom(8)),
            _command(b"EXPIRE", key, b"%d" % self._ttl()),
        ]

    def connection_save(
        self, state: ConnectionState, *, stats: bool = True, events: bool = True
    ) -> None:
        batch = self._batch
        if batch is not None and state.connection_id in batch["states"]:
            kept = batch["dirty"].get(state.connection_id)
            if kept is not None:
                stats, events = stats or kept[1], events or kept[2]
            batch["dirty"][state.connection_id] = (state, stats, events)
            return
        key = self._connection_key(state.connection_id)
        fields: list[bytes] = []
        if stats:
            fields += [b"s", stats_part_encode(state)]
        if events:
            fields += [b"e", events_part_encode(state)]
        if fields:
            version = os.urandom(8)
            self._send(
                _command(b"HSET", key, b"v", version, *fields),
                _command(b"EXPIRE", key, b"%d" % self._ttl()),
            )
            if stats:
                self._cache_put(state.connection_id, version, state)
            else:
                # Written from an event: its copy of the stats part was read
                # before, maybe not the newest; the next sample decodes.
                self._cache_drop(state.connection_id)

    def connection_drop(self, connection_id: Any) -> None:
        batch = self._batch
        if batch is not None:
            batch["states"].pop(connection_id, None)
            batch["dirty"].pop(connection_id, None)
        self._cache_drop(connection_id)
        self.redis.delete(self._connection_key(connection_id))

    def marks_load(self, conference_id: Any, participant_id: Any) -> ParticipantMarks:
        raw = self.redis.hget(self._marks_key(conference_id), _hex(participant_id))
        return marks_decode(cast(bytes | None, raw))

    def marks_save(self, conference_id: Any, participant_id: Any, marks: ParticipantMarks) -> None:
        key = self._marks_key(conference_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, _hex(participant_id), marks_encode(marks))
        pipe.expire(key, self._ttl())
        pipe.execute()

    def conference_drop(self, conference_id: Any) -> None:
        self.redis.delete(self._marks_key(conference_id))

    def clear(self) -> None:
        """Forget every state under the prefix (tests)."""
        with self._cache_guard:
            self._cache.clear()
        keys = list(self.redis.scan_iter(match=self.prefix + b"*", count=1000))
        if keys:
            self.redis.delete(*keys)


def _redis_wanted() -> bool:
    """``QUALITY_STATE`` (or ``PEERMETRICS_QUALITY["STATE_STORE"]``):
    ``redis``, ``memory``, or ``auto`` — Redis with the
    queued sink (its worker analyses what web processes saw), memory with
    the direct sink unless asked (it costs the direct sink's request ~170 µs
    of CPU, docs/benchmarks.md; set ``redis`` when several web processes
    take one app's samples)."""
    store = quality_setting("STATE_STORE") or settings.CONFIG.quality_state
    if store == "auto":
        return bool(settings.CONFIG.redis_url) and settings.CONFIG.ingest_sink == "queued"
    return store == "redis"


def state_for_process() -> QualityState:
    """The store this process uses (:func:`_redis_wanted`)."""
    url = settings.CONFIG.redis_url
    if _redis_wanted():
        if not url:
            raise RuntimeError("PEERMETRICS_QUALITY STATE_STORE=redis needs REDIS_HOST")
        return RedisState(url)
    return MemoryState()


# The process's store. Read it as ``state.STATE`` (the module attribute:
# it is replaced when the settings choose another store, and tests that
# play two processes swap it with :func:`use`).
STATE: QualityState = state_for_process()


def _store_kind() -> tuple[str, str | None]:
    return ("redis", settings.CONFIG.redis_url) if _redis_wanted() else ("memory", None)


def use(store: QualityState | None) -> None:
    """Make ``store`` the process's store (None: the one the settings choose)."""
    global STATE
    STATE = store if store is not None else state_for_process()


@receiver(setting_changed)
def _store_settings_changed(setting: str, **kwargs) -> None:
    # A new store only when the settings choose another one (a memory
    # store replaced mid-test would forget the call so far).
    if setting in {"CONFIG", "PEERMETRICS_QUALITY"}:
        current = STATE
        kind = _store_kind()
        same = (
            isinstance(current, RedisState) and kind[0] == "redis" and current.url == kind[1]
        ) or (isinstance(current, MemoryState) and kind[0] == "memory")
        if not same:
            use(None)
