"""What live detection remembers between two samples of a connection.

``/v1/stats`` may spend one SQL statement on quality (the metric rows), so
the previous counters of every stream and the detectors' hysteresis state
cannot be read from the database per sample: they live here, per process,
bounded (least recently used connections are forgotten).

Losing this state (a restart, a sample served by another worker) is safe by
construction: the next sample counts as a first sample for rates, detectors
start counting again, and an issue that is still open in the database is
not duplicated (one open issue per (code, subject) is a database
constraint). The store is used through the small :class:`QualityState`
interface so that it can move to Redis (shared by every worker) later.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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


class QualityState(Protocol):
    def locked(self, connection_id: Any) -> Any: ...

    def connection_load(self, connection_id: Any) -> ConnectionState: ...

    def connection_peek(self, connection_id: Any) -> ConnectionState | None: ...

    def connection_save(self, state: ConnectionState) -> None: ...

    def connection_drop(self, connection_id: Any) -> None: ...

    def marks_load(self, conference_id: Any, participant_id: Any) -> ParticipantMarks: ...

    def marks_save(
        self, conference_id: Any, participant_id: Any, marks: ParticipantMarks
    ) -> None: ...

    def conference_drop(self, conference_id: Any) -> None: ...


class MemoryState:
    """The in-process :class:`QualityState`: bounded LRU maps, striped locks.

    gunicorn's threaded workers may process two samples of one connection at
    once (a retry beside the next sample); the connection's stripe lock
    serialises them so counters and hysteresis are updated in order."""

    _STRIPES = 64

    def __init__(self) -> None:
        self._connections: OrderedDict[Any, ConnectionState] = OrderedDict()
        self._marks: OrderedDict[tuple[Any, Any], ParticipantMarks] = OrderedDict()
        self._guard = threading.Lock()
        self._locks = [threading.RLock() for _ in range(self._STRIPES)]

    @contextmanager
    def locked(self, connection_id: Any) -> Iterator[None]:
        with self._locks[hash(connection_id) % self._STRIPES]:
            yield

    def _limit(self) -> int:
        return int(quality_setting("STATE_MAX_CONNECTIONS"))

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

    def connection_save(self, state: ConnectionState) -> None:
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

    def clear(self) -> None:
        with self._guard:
            self._connections.clear()
            self._marks.clear()


STATE: QualityState = MemoryState()
