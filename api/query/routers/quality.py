"""Call quality read from the per-track metrics: the graphs of a conference
(also while it runs) and the quality summaries of a conference, a
participant in a conference, and a connection."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from api.common.errors import ApiError
from api.quality import selectors as quality
from api.query.responses import ERRORS, moment_utc, ok
from api.query.schemas import Moment
from api.query.selectors import calls

router = Router()

QUALITY_DATA = {200: dict[str, Any], **ERRORS}


class GraphParams(Schema):
    points: int = Field(300, ge=2, le=2000, description="Time buckets per track, at most.")
    start: Moment | None = Field(None, description="From (default: the conference's start).")
    end: Moment | None = Field(None, description="Until (default: its end, or now while it runs).")


class ParticipantQualityParams(Schema):
    conference_id: uuid.UUID = Field(..., alias="conferenceId")


@router.get("/conferences/{uuid:conference_id}/graphs", tags=["quality"], response=QUALITY_DATA)
def conference_graphs(
    request: HttpRequest, conference_id: uuid.UUID, params: Query[GraphParams]
) -> HttpResponse:
    """Time series of every track (bitrate, loss, jitter, RTT, fps,
    resolution, freezes, concealment, MOS, video score, ...), downsampled
    in the database to at most ``points`` buckets: ``{"data": {...}}``,
    shape in ``api.quality.selectors.conference_graphs``."""
    conference = calls.conference_get(user=request.auth, conference_id=conference_id)
    start, end = moment_utc(params.start, "start"), moment_utc(params.end, "end")
    if start and end and start >= end:
        raise ApiError("invalid_parameters", "'start' must be before 'end'.")
    graphs = quality.conference_graphs(
        conference_id=conference.pk, points=params.points, start=start, end=end
    )
    return ok({"data": graphs})


@router.get("/conferences/{uuid:conference_id}/quality", tags=["quality"], response=QUALITY_DATA)
def conference_quality(request: HttpRequest, conference_id: uuid.UUID) -> HttpResponse:
    """MOS p5/median, minutes below the MOS threshold, video score and
    freezes, setup times and issue counts, for the conference and per
    participant."""
    conference = calls.conference_get(user=request.auth, conference_id=conference_id)
    return ok({"data": quality.conference_quality_summary(conference_id=conference.pk)})


@router.get("/participants/{uuid:participant_id}/quality", tags=["quality"], response=QUALITY_DATA)
def participant_quality(
    request: HttpRequest, participant_id: uuid.UUID, params: Query[ParticipantQualityParams]
) -> HttpResponse:
    """What one participant experienced in one conference."""
    participant = calls.participant_get(user=request.auth, participant_id=participant_id)
    conference = calls.conference_get(user=request.auth, conference_id=params.conference_id)
    summary = quality.participant_quality_summary(
        conference_id=conference.pk, participant_id=participant.pk
    )
    return ok({"data": summary})


@router.get("/connections/{uuid:connection_id}/quality", tags=["quality"], response=QUALITY_DATA)
def connection_quality(request: HttpRequest, connection_id: uuid.UUID) -> HttpResponse:
    connection = calls.connection_get(user=request.auth, connection_id=connection_id)
    return ok({"data": quality.connection_quality_summary(connection_id=connection.pk)})
