"""A browser dump becomes a conference, through the SDK's own path.

:func:`dump_import` reads the whole dump first (:mod:`api.interop.dumps`,
pure: a bad file is refused before anything is written), then, in one
transaction, replays it in time order the way the SDK would have sent it:

* one participant and one session per page (renderer id) of the dump, a
  peer per connection (the other page of the same call when both ends are
  in the dump, matched by their ICE username fragments; otherwise a
  participant standing for the remote end);
* ``addConnection``, the updateLog / rtcstats events, ``ontrack`` and
  getUserMedia through :mod:`api.ingest.services` (the lifecycle, the event
  store and the quality hooks of live traffic);
* the stats at the app's interval, each report put in the SDK's shape
  (:mod:`api.interop.reports`) and through the stats pipeline of the direct
  sink: :func:`api.quality.analysis.sample_analyse`, the store (in batches),
  :func:`~api.quality.analysis.sample_detect`;
* at the end the conference is stopped at the dump's last moment, and what
  ended is announced after commit, as ``stop-conference`` does.

Any failure rolls the whole import back: no half conference is left.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from api.calls import services as calls
from api.calls.models import Conference, Connection, Participant, Session
from api.events.models import GenericEvent
from api.events.writer import SampleRow, SampleToStore, rows_insert, sample_prepare, samples_insert
from api.ingest import services as ingest
from api.ingest.sinks.connections import ConnectionState, report_private, sample_context
from api.interop.dumps import Dump, DumpError, PeerConnectionDump, at_of, dump_read
from api.interop.models import ImportedDump
from api.interop.reports import sdk_sample
from api.quality import analysis as quality
from api.quality import services as quality_services
from api.quality.models import Issue, TrackMetric
from api.tenancy.models import App
from api.webhooks import services as webhooks

ROUTE = "import"
# Samples and metric rows are written this many samples at a time.
BATCH = 500

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportSummary:
    conference: uuid.UUID
    format: str
    participants: int
    connections: int
    samples: int
    events: int
    issues: int
    seconds: float
    stats_truncated: bool

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["conference"] = str(self.conference)
        return out


def import_max_bytes() -> int:
    """The largest dump, once decompressed (a gzip bomb stops here)."""
    return int(getattr(settings, "IMPORT_MAX_DECOMPRESSED_BYTES", 1 << 30))


def upload_max_bytes() -> int:
    """The largest dump file an upload takes (``IMPORT_MAX_BYTES``)."""
    return int(settings.CONFIG.import_max_bytes)


def upload_read(file: Any) -> bytes:
    """The bytes of an uploaded file (Django's ``UploadedFile``) of at most
    ``upload_max_bytes()``; a larger one raises ``dump_too_large`` (by its
    declared size, else after reading one byte more than the limit). The
    upload API and the dashboard's upload form read their file through this."""
    limit = upload_max_bytes()
    if file.size is not None and file.size > limit:
        raise DumpError("dump_too_large", f"The file is larger than {limit} bytes.")
    raw = file.read(limit + 1)
    if len(raw) > limit:
        raise DumpError("dump_too_large", f"The file is larger than {limit} bytes.")
    return bytes(raw)


def dump_import(
    *,
    app: App,
    raw: bytes,
    filename: str = "",
    user: Any = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import one dump into ``app`` (see the module docstring). Raises
    :class:`api.interop.dumps.DumpError` for a file it refuses."""
    started = time.perf_counter()
    interval_ms = float(app.interval or settings.CONFIG.stats_interval_ms)
    try:
        dump = dump_read(raw, keep_every_ms=interval_ms, max_bytes=import_max_bytes())
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        # A structure no rule above foresaw: still the file's fault.
        raise DumpError("dump_invalid", f"The dump is malformed ({type(exc).__name__}).") from exc
    # A dump is history: its issues are not news for the app's webhooks.
    with webhooks.muted(), transaction.atomic():
        replay = _Replay(app=app, dump=dump, filename=filename)
        replay.run(progress)
        issues = Issue.objects.filter(conference_id=replay.conference.pk).count()
        summary = ImportSummary(
            conference=replay.conference.pk,
            format=dump.format,
            participants=len(replay.sessions),
            connections=len(replay.connections),
            samples=replay.samples,
            events=replay.events,
            issues=issues,
            seconds=round(time.perf_counter() - started, 3),
            stats_truncated=dump.stats_truncated,
        )
        ImportedDump.objects.create(
            conference=replay.conference,
            format=dump.format,
            filename=filename[:255],
            size=len(raw),
            imported_by=user if getattr(user, "pk", None) else None,
            stats_truncated=dump.stats_truncated,
            summary=summary.as_dict(),
        )
    return summary


def _browser(dump: Dump) -> dict[str, Any]:
    """The session's ``platform``, as the SDK describes the browser."""
    platform: dict[str, Any] = {}
    if dump.user_agent:
        platform["ua"] = dump.user_agent
    data = dump.user_agent_data if isinstance(dump.user_agent_data, dict) else {}
    versions = data.get("fullVersionList") or data.get("brands") or []
    for entry in versions if isinstance(versions, list) else []:
        brand = entry.get("brand") if isinstance(entry, dict) else None
        if isinstance(brand, str) and "Brand" not in brand:
            version = str(entry.get("version") or "")
            platform["browser"] = {
                "name": brand,
                "version": version,
                "major": version.split(".", 1)[0],
            }
            break
    if isinstance(data.get("platform"), str):
        platform["os"] = {"name": data["platform"]}
    return platform


class _Replay:
    def __init__(self, *, app: App, dump: Dump, filename: str):
        self.app, self.dump = app, dump
        self.ref = f"import-{uuid.uuid4().hex[:12]}"
        self.sessions: dict[str, Session] = {}
        self.participants: dict[str, Participant] = {}
        self.connections: dict[str, Connection] = {}
        self.states: dict[str, ConnectionState] = {}
        self.types: dict[str, str | None] = {}
        self.closed: set[str] = set()
        self.samples = 0
        self.events = 0
        self.pending: list[tuple[SampleToStore, list[tuple]]] = []
        self.conference: Conference = self._participants(filename)

    # ------------------------------------------------------------ set-up

    def _participants(self, filename: str) -> Conference:
        conference: Conference | None = None
        urls: dict[str, str | None] = {
            pc.rid: pc.url for pc in self.dump.peer_connections if pc.url
        }
        for record in self.dump.get_user_media:
            urls.setdefault(record.rid, record.url)
        name = (filename or f"{self.dump.format} dump")[:64]
        for rid in self.dump.rids:
            url = urls.get(rid)
            conference, participant = calls.conference_join(
                app=self.app,
                conference_id=self.ref,
                conference_name=name,
                participant_id=f"{self.ref}-{rid}"[:64],
                participant_name=(f"page {rid}" + (f" {url}" if url else ""))[:64],
            )
            self.participants[rid] = participant
        assert conference is not None
        return conference

    def _session(self, rid: str, at_ms: float) -> Session:
        session = self.sessions.get(rid)
        if session is None:
            urls = [pc.url for pc in self.dump.peer_connections if pc.rid == rid and pc.url]
            session = calls.session_create(
                conference=self.conference,
                participant=self.participants[rid],
                at=at_of(at_ms),
                app_version=None,
                webrtc_sdk=None,
                metadata={
                    "imported": self.dump.format,
                    "page": rid,
                    "url": urls[0] if urls else None,
                },
                constraints=None,
                devices=None,
                platform=_browser(self.dump),
                geo_ip={},
            )
            quality_services.session_started(session=session)
            self.sessions[rid] = session
        return session

    def _peer_ref(self, pc: PeerConnectionDump) -> tuple[str, str]:
        """The application id and name of the connection's other end."""
        for other in self.dump.peer_connections:
            if (
                other is not pc
                and other.rid != pc.rid
                and other.local_ufrags & pc.remote_ufrags
                and pc.local_ufrags & other.remote_ufrags
            ):
                peer = self.participants[other.rid]
                return peer.participant_id, peer.participant_name or peer.participant_id
        return f"{self.ref}-peer-{pc.key}"[:64], f"remote end of {pc.key}"[:64]

    # ------------------------------------------------------------- replay

    def _timeline(self) -> list[tuple[float, int, str, Any]]:
        items: list[tuple[float, int, str, Any]] = []
        for record in self.dump.get_user_media:
            items.append((record.at_ms, 1, "gum", record))
        for pc in self.dump.peer_connections:
            start = pc.first_ms
            if start is None:
                continue
            items.append((start, 0, "connection", pc))
            for at, name, value in pc.events:
                items.append((at, 2, "event", (pc, name, value)))
            for at, report in pc.reports:
                items.append((at, 3, "stats", (pc, report)))
        items.sort(key=lambda item: (item[0], item[1]))
        return items

    def run(self, progress: Progress | None) -> None:
        items = self._timeline()
        total = len(items)
        for done, (at_ms, _, kind, payload) in enumerate(items, 1):
            if kind == "gum":
                self._gum(payload, at_ms)
            elif kind == "connection":
                self._connection(payload, at_ms)
            elif kind == "event":
                pc, name, value = payload
                self._event(pc, name, value, at_ms)
            else:
                pc, report = payload
                self._stats(pc, report, at_ms)
            if progress is not None and (done % 200 == 0 or done == total):
                progress(done, total)
        self._flush()
        end = at_of(self.dump.last_ms)
        ingest.ended_announce(calls.conference_stop(conference=self.conference, at=end))

    def _body(self, **fields: Any) -> dict[str, Any]:
        # Unique per replayed event: a fingerprint never mistakes one for a retry.
        return {"import": self.ref, "n": self.events, **fields}

    def _in(self, category: str, name: str, data: Any, at: Any, **fields: Any) -> ingest.EventIn:
        """An event as the SDK's request would have given it."""
        return ingest.EventIn(
            category=category,
            name=name,
            data=data,
            at=at,
            is_retry=False,
            route=ROUTE,
            body=self._body(),
            **fields,
        )

    def _gum(self, record, at_ms: float) -> None:
        session = self._session(record.rid, at_ms)
        self.events += 1
        ingest.event_record(
            session_id=session.pk,
            event=self._in(
                GenericEvent.Category.GET_USER_MEDIA, record.name, record.data, at_of(at_ms)
            ),
        )

    def _connection(self, pc: PeerConnectionDump, at_ms: float) -> None:
        session = self._session(pc.rid, at_ms)
        peer_ref, peer_name = self._peer_ref(pc)
        self.events += 1
        connection = ingest.connection_add(
            session_id=session.pk,
            event=ingest.EventIn(
                category=GenericEvent.Category.CONNECTION,
                name="addConnection",
                data=None,
                at=at_of(at_ms),
                is_retry=False,
                route=ROUTE,
                body=self._body(pc=pc.key),
                peer_ref=peer_ref,
            ),
            peer_name=peer_name,
            is_sfu=False,
            connection_state=None,
        )
        self.connections[pc.key] = connection
        self.types[pc.key] = None
        self.states[pc.key] = ConnectionState(
            session_id=session.pk,
            conference_id=self.conference.pk,
            participant_id=session.participant_id,
            peer_id=connection.peer_id,
            app_id=self.app.pk,
            type=None,
            ended=False,
        )
        if pc.configuration is not None or pc.url:
            self._event(
                pc, "peerDetails", {"peerConfiguration": pc.configuration, "url": pc.url}, at_ms
            )

    def _event(self, pc: PeerConnectionDump, name: str, value: Any, at_ms: float) -> None:
        connection = self.connections.get(pc.key)
        if connection is None or pc.key in self.closed:
            return
        session = self.sessions[pc.rid]
        self.events += 1
        at = at_of(at_ms)
        if name == "ontrack":
            track = _ontrack(value)
            if track is not None:
                ingest.track_record(
                    session_id=session.pk,
                    event=self._in(
                        GenericEvent.Category.TRACK,
                        "ontrack",
                        track,
                        at,
                        connection_id=connection.pk,
                    ),
                    track_ref=track["id"],
                    ontrack=True,
                )
            return
        if name == "onsignalingstatechange":
            value = {"signalingState": value}
        ingest.event_record(
            session_id=session.pk,
            event=self._in(
                GenericEvent.Category.CONNECTION, name[:64], value, at, connection_id=connection.pk
            ),
        )
        if name in {"onconnectionstatechange", "oniceconnectionstatechange"} and value == "closed":
            # The live path refuses the stats of an ended connection.
            self._flush()
            self.closed.add(pc.key)

    def _stats(self, pc: PeerConnectionDump, report: dict[str, dict], at_ms: float) -> None:
        connection = self.connections.get(pc.key)
        if connection is None or pc.key in self.closed:
            return
        state = self.states[pc.key]
        data = sdk_sample(report)
        at = at_of(at_ms)
        prepared = sample_prepare(
            row=SampleRow(
                app_id=self.app.pk,
                conference_id=self.conference.pk,
                connection_id=connection.pk,
                created_at=at,
            ),
            # Addresses scrubbed as the app says, like a live sample's.
            raw_report=report_private(self.app.pk, orjson.dumps(data))[1],
        )
        context = sample_context(
            state=state, connection_id=connection.pk, sample_id=prepared.id, at=at, data=data
        )
        with quality.connection_locked(connection.pk):
            analysis = quality.sample_analyse(context=context, data=data)
            self.pending.append((prepared, analysis.metric_rows))
            if analysis.candidate_type and analysis.candidate_type != self.types[pc.key]:
                calls.connection_type_set(connection_id=connection.pk, type=analysis.candidate_type)
                self.types[pc.key] = analysis.candidate_type
            quality.sample_detect(analysis)
        self.samples += 1
        if len(self.pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        samples_insert([sample for sample, _ in self.pending])
        rows = [row for _, sample_rows in self.pending for row in sample_rows]
        if connections[DEFAULT_DB_ALIAS].vendor == "sqlite":
            # SQLite allows 32766 bound values per statement.
            step = 32766 // len(quality.METRIC_COLUMNS)
        else:
            step = 5000
        for i in range(0, len(rows), step):
            rows_insert(model=TrackMetric, columns=quality.METRIC_COLUMNS, rows=rows[i : i + step])
        self.pending = []


def _ontrack(value: Any) -> dict[str, Any] | None:
    """An ``ontrack`` of either dump as the SDK's ``POST /tracks`` data."""
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        kind, ident, label = value.get("kind"), value["id"], value.get("label")
    elif isinstance(value, list) and len(value) >= 2 and isinstance(value[1], str):
        kind, ident, label = value[0], value[1], None
    else:
        return None
    if kind not in ("audio", "video"):
        return None
    return {"kind": kind, "id": ident[:64], "label": label, "direction": "inbound"}
