"""Request parameters and bodies, and the response schemas: the one
definition of each answer. django-ninja serialises the models and the
selectors' results through them (``Out`` classes read attributes; an
``alias`` names the attribute a field is read from, e.g. a foreign key's
``app_id`` answered as ``app``), and the OpenAPI document is made from
them (``additionalProperties: false``, every key required).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.utils.dateparse import parse_date, parse_datetime
from ninja import Field, Schema
from pydantic import BeforeValidator, ConfigDict, create_model

Role = Literal["owner", "admin", "member"]
Ordering = Literal["created_at", "-created_at"]
# Filters on counts of seconds stay inside a 32-bit integer column.
MAX_SECONDS = 2_147_483_647


def _moment(value: Any) -> Any:
    """ISO 8601 date-times (``Z`` or an offset; none means UTC) and dates
    (midnight UTC), as the dashboard sends them. Numbers are refused: the
    API never spoke Unix time."""
    if not isinstance(value, str):
        return value
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ValueError("not an ISO 8601 date-time")
        parsed = datetime(day.year, day.month, day.day)
    return parsed


Moment = Annotated[datetime, BeforeValidator(_moment)]


class Out(Schema):
    # Documented as closed (``additionalProperties: false``), but not
    # enforced with ``extra="forbid"``: django-ninja then validates the raw
    # object a first time, without its resolvers.
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})


def ref(attribute: str, description: str | None = None) -> Any:
    """A field read from ``attribute`` (e.g. ``"app_id"``), answered under
    its own name."""
    return Field(..., alias=attribute, description=description)


def data_of(schema: type, name: str) -> type:
    return create_model(name, __base__=Out, data=(schema, ...))


def list_of(schema: type, name: str) -> type:
    return create_model(name, __base__=Out, data=(list[schema], ...))  # type: ignore[valid-type]


def page_of(schema: type, name: str) -> type:
    return create_model(
        name,
        __base__=Out,
        results=(list[schema], ...),  # type: ignore[valid-type]
        count=(int, ...),
    )


def keyset_of(schema: type, name: str) -> type:
    return create_model(
        name,
        __base__=Out,
        results=(list[schema], ...),  # type: ignore[valid-type]
        next=(str | None, ...),
    )


# ------------------------------------------------------------------ errors


class ErrorOut(Out):
    error_code: str
    message: str


# ----------------------------------------------------------------- objects


class UserOut(Out):
    id: uuid.UUID
    username: str
    email: str
    first_name: str
    last_name: str
    is_staff: bool
    date_joined: datetime


class MeOut(Out):
    user: UserOut
    organizations: list[OrganizationOut]


class LoginOut(Out):
    data: MeOut
    csrf_token: str


class OrganizationOut(Out):
    id: uuid.UUID
    name: str
    created_at: datetime
    role: Role


class MemberOut(Out):
    """A membership, with its user's name and email."""

    user: uuid.UUID = ref("user_id")
    username: str
    email: str
    role: Role
    created_at: datetime

    @staticmethod
    def resolve_username(membership: Any) -> str:
        return membership.user.username

    @staticmethod
    def resolve_email(membership: Any) -> str:
        return membership.user.email


class ErasureOut(Out):
    removed: dict[str, int] = Field(description="Rows removed, per model ('events.GenericEvent').")


class InvitationOut(Out):
    """An invitation; it says nothing of whether its user exists."""

    id: uuid.UUID
    organization: uuid.UUID = ref("organization_id")
    organization_name: str
    username: str
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime

    @staticmethod
    def resolve_organization_name(invitation: Any) -> str:
        return invitation.organization.name


class AppOut(Out):
    id: uuid.UUID
    name: str
    api_key: str
    domain: str
    organization: uuid.UUID = ref("organization_id")
    interval: int
    recording: bool
    durations_days: dict[str, int] = Field(
        ..., description="Connected seconds per UTC day, the last 31 days, today included."
    )
    created_at: datetime


class TokenOut(Out):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = ref("secret", "The token itself. Shown once, never again.")


class ConferenceOut(Out):
    id: uuid.UUID
    conference_id: str
    conference_name: str | None
    conference_info: Any
    start_time: datetime | None
    call_start: datetime | None
    end_time: datetime | None
    ongoing: bool
    duration: int
    app: uuid.UUID = ref("app_id")
    created_at: datetime


class ConferenceListItemOut(ConferenceOut):
    has_errors: bool
    has_warnings: bool
    participants_count: int


class VerdictCauseOut(Out):
    issue: uuid.UUID = Field(..., description="The primary issue (a diagnosis or a lone issue).")
    code: str
    level: Literal["good", "fair", "poor"]
    text: str = Field(..., description="Who had what, for how long, and why, in words.")
    summary: str = Field(..., description="The cause in words.")
    affected: list[uuid.UUID] = Field(..., description="Participants whose media suffered.")
    likely_cause: dict[str, Any] = Field(
        ..., description="participant (or null), name, path: uplink, downlink, relay, path."
    )
    seconds: int
    ongoing: bool


class ParticipantVerdictOut(Out):
    participant: uuid.UUID
    name: str | None
    level: Literal["good", "fair", "poor"]
    text: str
    causes: list[uuid.UUID]


class VerdictOut(Out):
    level: Literal["good", "fair", "poor"]
    text: str = Field(..., description='"Good call", or what went wrong, for whom, and why.')
    causes: list[VerdictCauseOut]
    participants: list[ParticipantVerdictOut]


class ConferenceDetailOut(ConferenceOut):
    participants: list[uuid.UUID] = ref("participant_ids")
    issues: list[uuid.UUID] = ref("issue_ids")
    verdict: VerdictOut = Field(
        ..., description="The call's verdict from its diagnoses (api.quality.verdicts)."
    )


class ParticipantOut(Out):
    id: uuid.UUID
    participant_id: str
    participant_name: str | None
    is_sfu: bool
    app: uuid.UUID = ref("app_id")
    created_at: datetime


class _SessionBase(Out):
    id: uuid.UUID
    conference: uuid.UUID = ref("conference_id")
    participant: uuid.UUID = ref("participant_id")


class _SessionFields(Out):
    devices: Any
    platform: Any
    metadata: Any
    geo_ip: Any
    app_version: str | None
    webrtc_sdk: str | None
    session_info: Any
    duration: int | None
    end_time: datetime | None
    call_start: datetime | None
    created_at: datetime
    issues: list[uuid.UUID] = ref("issue_ids")


class SessionListItemOut(_SessionBase, _SessionFields):
    pass


class SessionOut(_SessionBase, _SessionFields):
    constraints: Any


class ConnectionOut(Out):
    id: uuid.UUID
    session: uuid.UUID = ref("session_id")
    conference: uuid.UUID = ref("conference_id")
    participant: uuid.UUID = ref("participant_id")
    peer: uuid.UUID = ref("peer_id")
    type: Literal["host", "srflx", "prflx", "relay"] | None
    state: str
    connection_info: Any
    start_time: datetime
    end_time: datetime | None
    duration: int | None
    created_at: datetime


class IssueOut(Out):
    id: uuid.UUID
    session: uuid.UUID | None = ref("session_id")
    conference: uuid.UUID | None = ref("conference_id")
    participant: uuid.UUID | None = ref("participant_id")
    connection: uuid.UUID | None = ref("connection_id")
    track: uuid.UUID | None = ref("track_id")
    type: Literal["warning", "error"]
    code: str
    data: Any
    created_at: datetime
    resolved_at: datetime | None
    duration: float | None = Field(..., description="Seconds from raised to resolved.")
    peak_value: float | None
    title: str
    explanation: str
    cause: uuid.UUID | None = ref(
        "cause_id",
        "The diagnosis this issue is a symptom of; null for a primary issue (a cause, or an "
        "issue no cause explains).",
    )


class EventOut(Out):
    """A stored event, or a stats sample shown as an event of type and
    category ``stats`` whose data is the report as the SDK sent it."""

    id: uuid.UUID
    conference: uuid.UUID = ref("conference_id")
    participant: uuid.UUID = ref("participant_id")
    peer: uuid.UUID | None = ref("peer_id")
    session: uuid.UUID = ref("session_id")
    connection: uuid.UUID | None = ref("connection_id")
    track: uuid.UUID | None = ref("track_id")
    app: uuid.UUID = ref("app_id")
    type: str
    category: Literal["browser", "getUserMedia", "connection", "track", "stats"]
    data: Any
    created_at: datetime


class SearchMatchOut(Out):
    name: str | None
    id: str = ref("ident", "The application's id of a conference or participant.")
    url: str
    type: Literal["conference", "participant", "app", "organization"] = ref("kind")


class SearchOut(Out):
    matches: list[SearchMatchOut]


# --------------------------------------------------------------- summaries


class ConferenceDayOut(Out):
    date: str
    success: int
    warning: int
    error: int
    ongoing: int
    total: int


class DurationBucketOut(Out):
    range: str
    min_sec: int
    max_sec: int | None
    count: int


class ParticipantCountOut(Out):
    participants: int
    conferences: int


class ParticipantCountSummaryOut(Out):
    data: list[ParticipantCountOut]
    total_conferences: int


class IssueCountOut(Out):
    code: str
    title: str
    count: int


class GumErrorOut(Out):
    name: str
    message: str
    count: int


class GumSummaryOut(Out):
    data: list[GumErrorOut]
    total: int


class NamedCountOut(Out):
    name: str
    count: int


class SetupTimeBucketOut(Out):
    range: str
    min_ms: int
    max_ms: int | None
    count: int
    conference_ids: list[uuid.UUID]


class CountryCountOut(Out):
    code: str
    count: int


class CityCountOut(Out):
    city: str
    latitude: float
    longitude: float
    count: int


class SessionSummaryOut(Out):
    browsers: list[NamedCountOut]
    os: list[NamedCountOut]
    countries: list[CountryCountOut]
    cities: list[CityCountOut]


# ----------------------------------------------------------------- quality


class GraphSeriesOut(Out):
    track: uuid.UUID | None
    track_identifier: str | None
    label: str | None
    kind: Literal["audio", "video"]
    direction: Literal["inbound", "outbound"]
    connection: uuid.UUID | None
    session: uuid.UUID | None
    participant: uuid.UUID | None
    participant_id: str | None
    participant_name: str | None
    peer: uuid.UUID | None
    peer_id: str | None
    peer_name: str | None
    columns: list[str] = Field(..., description="'t', then the series' measures.")
    data: list[list[int | float | None]] = Field(
        ...,
        description="One row per time bucket, in 'columns' order; 't' is the bucket's "
        "first sample, in ms since the epoch.",
    )


class GraphsOut(Out):
    conference: uuid.UUID
    ongoing: bool
    start: datetime
    end: datetime
    bucket_seconds: float
    points: int
    series: list[GraphSeriesOut]


class AudioQualityOut(Out):
    mos_p5: float | None
    mos_median: float | None
    mos_threshold: float
    minutes_below_threshold: float
    samples: int


class VideoQualityOut(Out):
    score_median: float | None
    freeze_count: int
    freeze_seconds: float


class DistributionOut(Out):
    p50: float | None
    p95: float | None
    threshold: float = Field(..., description="The raise threshold of the measure's detector.")
    share_above: float | None = Field(
        ..., description="Share (0–1) of the measured time above the threshold."
    )
    samples: int


class NetworkQualityOut(Out):
    loss_pct: DistributionOut = Field(..., description="Loss of incoming streams, %.")
    rtt_ms: DistributionOut
    jitter_ms: DistributionOut = Field(..., description="Jitter of incoming audio, ms.")


class SetupTimeOut(Out):
    median: float | None
    max: float | None
    connections: int


class CauseOut(Out):
    issue: uuid.UUID
    code: str
    type: Literal["warning", "error"]
    summary: str = Field(..., description="The cause in words.")
    did: list[str] = Field(..., description="What it did: the codes of its symptoms.")
    affected: list[uuid.UUID]
    likely_cause: dict[str, Any]
    created_at: datetime
    resolved_at: datetime | None


class IssueCountsOut(Out):
    total: int
    open: int
    by_code: dict[str, int]
    causes: list[CauseOut] = Field(
        ..., description="The diagnoses (one per cause) that concern these participants."
    )


class _QualityBlocks(Out):
    audio: AudioQualityOut
    video: VideoQualityOut
    network: NetworkQualityOut
    setup_time_ms: SetupTimeOut
    issues: IssueCountsOut


class ParticipantQualityOut(_QualityBlocks):
    participant: uuid.UUID


class ConferenceQualityOut(_QualityBlocks):
    conference: uuid.UUID
    participants: list[ParticipantQualityOut]


class ParticipantInConferenceQualityOut(_QualityBlocks):
    conference: uuid.UUID
    participant: uuid.UUID


class ConnectionQualityOut(_QualityBlocks):
    connection: uuid.UUID


MeOut.model_rebuild()

# ------------------------------------------------------------------ inputs


class LoginIn(Schema):
    username: str
    password: str


class CsrfOut(Out):
    csrf_token: str


class TokenIn(Schema):
    name: str


class OrganizationIn(Schema):
    name: str


class InvitationIn(Schema):
    username: str | None = Field(None, description="Username of the person invited.")
    email: str | None = Field(None, description="Or their email address.")
    role: Role = "member"


class MemberUpdateIn(Schema):
    role: Role


class AppCreateIn(Schema):
    organization: uuid.UUID
    name: str
    domain: str | None = Field(
        None, description="Hosts allowed to use the SDK, comma separated; '*.' for subdomains."
    )
    interval: int | None = Field(None, description="getStats() interval in ms (1000-600000).")
    recording: bool = True


class AppUpdateIn(Schema):
    name: str | None = None
    domain: str | None = Field(None, description="Empty string or null lifts the restriction.")
    interval: int | None = None
    recording: bool | None = None


# ----------------------------------------------------------- query strings


class PageParams(Schema):
    limit: int | None = Field(
        None, description="Page size (1-200, default 50). Giving limit or offset pages the list."
    )
    offset: int | None = Field(None, description="Rows to skip.")
    ordering: Ordering = Field("created_at", description="Oldest first, or newest first.")


class CreatedAtParams(Schema):
    created_at_gt: Moment | None = None
    created_at_gte: Moment | None = None
    created_at_lt: Moment | None = None
    created_at_lte: Moment | None = None


class AppParam(Schema):
    app_id: uuid.UUID | None = Field(None, alias="appId")


class ConferenceListParams(PageParams, CreatedAtParams, AppParam):
    participant_id: uuid.UUID | None = Field(None, alias="participantId")
    conference_ids: str | None = Field(None, description="Comma-separated conference UUIDs.")
    issue_code: str | None = Field(None, max_length=40)
    duration_gte: int | None = Field(None, ge=0, le=MAX_SECONDS)
    duration_lt: int | None = Field(None, ge=0, le=MAX_SECONDS)
    ongoing: bool | None = None


class ParticipantListParams(PageParams, CreatedAtParams, AppParam):
    conference_id: uuid.UUID | None = Field(None, alias="conferenceId")


class SessionListParams(PageParams, CreatedAtParams, AppParam):
    conference_id: uuid.UUID | None = Field(None, alias="conferenceId")
    participant_id: uuid.UUID | None = Field(None, alias="participantId")


class ConnectionListParams(SessionListParams):
    session_id: uuid.UUID | None = Field(None, alias="sessionId")


class IssueListParams(ConnectionListParams):
    connection_id: uuid.UUID | None = Field(None, alias="connectionId")
    code: str | None = Field(None, max_length=40)
    type: Literal["warning", "error"] | None = None


class AppListParams(PageParams):
    organization_id: uuid.UUID | None = Field(None, alias="organizationId")


class EventListParams(Schema):
    type: str | None = Field(
        None,
        max_length=65,
        description="Only events of this type ('stats' for stats samples); "
        "'-X' for every type but X (the dashboard sends '-stats').",
    )
    cursor: str | None = Field(
        None,
        max_length=200,
        description="The 'next' of the previous page: event lists are paged by key "
        "(each answer one page naming the next) unless 'offset' is given.",
    )


class ConferenceEventParams(PageParams, EventListParams):
    pass


class CategoryEventParams(PageParams, CreatedAtParams, EventListParams):
    conference_id: uuid.UUID | None = Field(None, alias="conferenceId")
    participant_id: uuid.UUID | None = Field(None, alias="participantId")


class SummaryParams(AppParam):
    created_at_gte: Moment | None = None
    created_at_lte: Moment | None = None


class SearchParams(Schema):
    query: str = Field(..., min_length=1, max_length=64)
