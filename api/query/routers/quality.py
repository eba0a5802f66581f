"""Call quality read from the per-track metrics: the graphs of a conference
(also while it runs) and the quality summaries of a conference, a
participant in a conference, and a connection."""

from __future__ import annotations

import uuid

from ninja import Field, Query, Router, Schema

from api.common.errors import ApiError
from api.quality import selectors as quality
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS, moment_utc
from api.query.schemas import (
    ConferenceQualityOut,
    ConnectionQualityOut,
    GraphsOut,
    Moment,
    ParticipantInConferenceQualityOut,
    data_of,
)
from api.query.selectors import calls

router = Router()


class GraphParams(Schema):
    points: int = Field(300, ge=2, le=2000, description="Time buckets per track, at most.")
    start: Moment | None = Field(None, description="From (default: the conference's start).")
    end: Moment | None = Field(None, description="Until (default: its end, or now while it runs).")


class ParticipantQualityParams(Schema):
    conference_id: uuid.UUID = Field(..., alias="conferenceId")


@router.get(
    "/conferences/{uuid:conference_id}/graphs",
    tags=["quality"],
    response={200: data_of(GraphsOut, "GraphsData"), **ERRORS},
)
def conference_graphs(
    request: AuthedRequest, conference_id: uuid.UUID, params: Query[GraphParams]
) -> dict:
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
    return {"data": graphs}


@router.get(
    "/conferences/{uuid:conference_id}/quality",
    tags=["quality"],
    response={200: data_of(ConferenceQualityOut, "ConferenceQualityData"), **ERRORS},
)
def conference_quality(request: AuthedRequest, conference_id: uuid.UUID) -> dict:
    """MOS p5/median, minutes below the MOS threshold, video score and
    freezes, setup times and issue counts, for the conference and per
    participant."""
    conference = calls.conference_get(user=request.auth, conference_id=conference_id)
    return {"data": quality.conference_quality_summary(conference_id=conference.pk)}


@router.get(
    "/participants/{uuid:participant_id}/quality",
    tags=["quality"],
    response={200: data_of(ParticipantInConferenceQualityOut, "ParticipantQualityData"), **ERRORS},
)
def participant_quality(
    request: AuthedRequest, participant_id: uuid.UUID, params: Query[ParticipantQualityParams]
) -> dict:
    """What one participant experienced in one conference."""
    participant = calls.participant_get(user=request.auth, participant_id=participant_id)
    conference = calls.conference_get(user=request.auth, conference_id=params.conference_id)
    summary = quality.participant_quality_summary(
        conference_id=conference.pk, participant_id=participant.pk
    )
    return {"data": summary}


@router.get(
    "/connections/{uuid:connection_id}/quality",
    tags=["quality"],
    response={200: data_of(ConnectionQualityOut, "ConnectionQualityData"), **ERRORS},
)
def connection_quality(request: AuthedRequest, connection_id: uuid.UUID) -> dict:
    connection = calls.connection_get(user=request.auth, connection_id=connection_id)
    return {"data": quality.connection_quality_summary(connection_id=connection.pk)}
