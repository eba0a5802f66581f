"""Factories for the query API tests: a tenant with a recorded call.

Rows are made the way the ingest path makes them (stats samples through
the sample writer, compressed), so what the API reads is what production
reads."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from api.calls.models import Conference, ConferenceParticipant, Connection, Participant, Session
from api.common.time import now
from api.events.models import GenericEvent, StatsSample
from api.events.writer import SampleRow, sample_insert
from api.quality.models import Issue
from api.tenancy import services
from api.tenancy.models import App, AppUsageDay, Membership, Organization, User

_counter = itertools.count(1)

PLATFORM = {"browser": {"name": "Chrome", "version": "120"}, "os": {"name": "Linux"}}
GEO = {
    "country_code": "FR",
    "region_code": "IDF",
    "city": "Paris",
    "latitude": 48.85,
    "longitude": 2.35,
}


def user_make(username: str | None = None, *, password: str = "correct horse battery") -> User:
    username = username or f"user{next(_counter)}"
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", password=password
    )


def member_make(organization: Organization, role: str, username: str | None = None) -> User:
    user = user_make(username)
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


def stats_report(*, bytes_sent: int, candidate_type: str = "host") -> dict[str, Any]:
    return {
        "audio": {"inbound": [], "outbound": []},
        "video": {"inbound": [], "outbound": []},
        "connection": {
            "bytesSent": bytes_sent,
            "state": "succeeded",
            "local": {"candidateType": candidate_type, "protocol": "udp"},
            "remote": {"candidateType": "host"},
        },
    }


def sample_make(connection: Connection, *, at: datetime, report: dict) -> StatsSample:
    sample_id = sample_insert(
        row=SampleRow(
            app_id=connection.app_id,
            conference_id=connection.conference_id,
            connection_id=connection.pk,
            created_at=at,
        ),
        raw_report=orjson.dumps(report),
    )
    assert sample_id is not None
    return StatsSample.objects.get(pk=sample_id)


def event_make(
    session: Session, *, type: str, category: str, at: datetime, **extra
) -> GenericEvent:
    return GenericEvent.objects.create(
        app_id=session.app_id,
        conference_id=session.conference_id,
        participant_id=session.participant_id,
        session=session,
        type=type,
        category=category,
        data=extra.pop("data", None),
        created_at=at,
        **extra,
    )


@dataclass
class Tenant:
    """An organization with an owner, an admin and a member, one app and one
    finished two-party call with events, stats samples and issues."""

    organization: Organization
    owner: User
    admin: User
    member: User
    app: App
    conference: Conference
    participants: list[Participant]
    sessions: list[Session]
    connections: list[Connection]
    events: list[GenericEvent]
    samples: list[StatsSample]
    issues: list[Issue]
    secrets: list[str] = field(default_factory=list)

    def identifiers(self) -> list[str]:
        """Every string that would betray this tenant's data in an answer."""
        objects = [
            self.organization,
            self.app,
            self.conference,
            *self.participants,
            *self.sessions,
            *self.connections,
            *self.events,
            *self.samples,
            *self.issues,
        ]
        return [
            *(str(obj.pk) for obj in objects),
            self.app.api_key,
            self.organization.name,
            self.app.name,
            self.conference.conference_id,
            *(p.participant_id for p in self.participants),
            *self.secrets,
        ]


def tenant_make(
    name: str, *, start: datetime | None = None, samples_per_connection: int = 3
) -> Tenant:
    start = start or now() - timedelta(hours=2)
    owner = user_make(f"{name}-owner")
    organization = services.organization_create(name=f"{name} org", owner=owner)
    admin = member_make(organization, Membership.Role.ADMIN, f"{name}-admin")
    member = member_make(organization, Membership.Role.MEMBER, f"{name}-member")
    app = services.app_create(organization=organization, name=f"{name} app")
    AppUsageDay.objects.create(app=app, day=now().date(), seconds=61)
    AppUsageDay.objects.create(app=app, day=now().date() - timedelta(days=3), seconds=120)

    conference = Conference.objects.create(
        app=app,
        conference_id=f"{name}-room",
        conference_name=f"{name} weekly sync",
        start_time=start + timedelta(seconds=3),
        end_time=start + timedelta(seconds=75),
        duration=72,
    )
    participants = [
        Participant.objects.create(
            app=app, participant_id=f"{name}-{who}", participant_name=f"{name} {who}"
        )
        for who in ("alice", "bob")
    ]
    for participant in participants:
        ConferenceParticipant.objects.create(conference=conference, participant=participant)
    sessions = [
        Session.objects.create(
            app=app,
            conference=conference,
            participant=participant,
            constraints={"audio": True, "video": True},
            devices=[{"kind": "audioinput", "label": "Mic"}],
            platform=PLATFORM,
            geo_ip=GEO,
            app_version="1.0.0",
            webrtc_sdk="",
            created_at=start + timedelta(seconds=index),
            end_time=start + timedelta(seconds=80),
            duration=80 - index,
        )
        for index, participant in enumerate(participants)
    ]
    connections = []
    for index, session in enumerate(sessions):
        peer = participants[1 - index]
        connected = start + timedelta(seconds=3, milliseconds=420 + index * 900)
        connections.append(
            Connection.objects.create(
                app=app,
                session=session,
                conference=conference,
                participant=session.participant,
                peer=peer,
                type=Connection.Type.HOST if index == 0 else Connection.Type.RELAY,
                state=Connection.State.CONNECTED,
                connection_info={
                    "detected_tcp": False,
                    "detected_turn": index == 1,
                    "negotiations": [
                        {
                            "type": "initial",
                            "status": "connected",
                            "start_time": (start + timedelta(seconds=3))
                            .isoformat()
                            .replace("+00:00", "Z"),
                            "end_time": connected.isoformat().replace("+00:00", "Z"),
                            "duration": (connected - start - timedelta(seconds=3)).total_seconds(),
                        }
                    ],
                },
                start_time=start + timedelta(seconds=3),
                end_time=start + timedelta(seconds=75),
                duration=72,
            )
        )
    events = []
    for index, session in enumerate(sessions):
        events.append(
            event_make(
                session,
                type="getUserMedia",
                category=GenericEvent.Category.GET_USER_MEDIA,
                at=start + timedelta(seconds=1 + index),
                data={"constraints": {"audio": True}},
            )
        )
        events.append(
            event_make(
                session,
                type="onconnectionstatechange",
                category=GenericEvent.Category.CONNECTION,
                at=start + timedelta(seconds=4 + index),
                data="connected",
                connection=connections[index],
                peer=connections[index].peer,
            )
        )
        events.append(
            event_make(
                session,
                type="unload",
                category=GenericEvent.Category.BROWSER,
                at=start + timedelta(seconds=80 - index),
            )
        )
    samples = [
        sample_make(
            connection,
            at=start + timedelta(seconds=10 * (n + 1), milliseconds=index),
            report=stats_report(bytes_sent=1000 * (n + 1) + index),
        )
        for n in range(samples_per_connection)
        for index, connection in enumerate(connections)
    ]
    issues = [
        Issue.objects.create(
            app=app,
            conference=conference,
            session=sessions[1],
            participant=participants[1],
            connection=connections[1],
            type=Issue.Type.WARNING,
            code="turn_used",
            subject=f"connection:{connections[1].pk}",
            created_at=start + timedelta(seconds=10),
        ),
        Issue.objects.create(
            app=app,
            conference=conference,
            session=sessions[0],
            participant=participants[0],
            type=Issue.Type.ERROR,
            code="getusermedia_error",
            subject=f"session:{sessions[0].pk}",
            data={"name": "NotAllowedError", "message": "Permission denied"},
            created_at=start + timedelta(seconds=2),
            resolved_at=start + timedelta(seconds=5),
            peak_value=1.0,
        ),
    ]
    return Tenant(
        organization=organization,
        owner=owner,
        admin=admin,
        member=member,
        app=app,
        conference=conference,
        participants=participants,
        sessions=sessions,
        connections=connections,
        events=events,
        samples=samples,
        issues=issues,
    )
