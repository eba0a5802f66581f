"""Admin for calls: conferences, participants, sessions, connections, tracks.

View and delete only (see ``RecordedDataAdmin``). Each page links to the rows
around it: a conference to its participants, sessions and connections, and to
its events, stats samples and issues as filtered lists (never inlined: a long
call has thousands of them).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from api.calls.erasure import participant_erase
from api.calls.models import (
    Conference,
    ConferenceParticipant,
    Connection,
    Participant,
    Session,
    Track,
)
from api.common.admin import (
    RecordedDataAdmin,
    admin_link,
    changelist_link,
    json_display,
    related_links,
)

# The recorded data of a call lives in the layers above (events, quality):
# linked by label, never imported.
EVENTS = "events.genericevent"
STATS_SAMPLES = "events.statssample"
ISSUES = "quality.issue"


def recorded_lists(**filters) -> str:
    """Links to the events, stats samples and issues matching ``filters``
    (e.g. ``conference__id__exact=…``)."""
    links = (
        changelist_link(EVENTS, "events", **filters),
        changelist_link(STATS_SAMPLES, "stats samples", **filters),
        changelist_link(ISSUES, "issues", **filters),
    )
    return format_html_join(" · ", "{}", ((link,) for link in links))


@admin.register(Conference)
class ConferenceAdmin(RecordedDataAdmin):
    list_display = (
        "conference_id",
        "conference_name",
        "app_link",
        "ongoing",
        "start_time",
        "end_time",
        "duration",
        "created_at",
    )
    list_filter = ("ongoing", "created_at", "app")
    list_select_related = ("app",)
    search_fields = ("conference_id", "conference_name")
    id_search_fields = ("pk", "app")
    search_help_text = "A conference id or name, or the UUID of a conference or app."
    ordering = ("-created_at",)
    conference_info_json = json_display("conference_info")
    fields = (
        "id",
        "app",
        "conference_id",
        "conference_name",
        "ongoing",
        "created_at",
        "start_time",
        "call_start",
        "end_time",
        "duration",
        "conference_info_json",
        "participant_links",
        "session_links",
        "connection_links",
        "recorded",
    )
    readonly_fields = fields

    @admin.display(description="app", ordering="app__name")
    def app_link(self, obj: Conference):
        return admin_link(obj.app)

    @admin.display(description="participants")
    def participant_links(self, obj: Conference):
        return related_links(
            obj.participants.order_by("participant_id"),
            more=changelist_link(
                ConferenceParticipant, "all participants", conference__id__exact=obj.pk
            ),
        )

    @admin.display(description="sessions")
    def session_links(self, obj: Conference):
        return related_links(
            obj.sessions.order_by("created_at"),
            more=changelist_link(Session, "all sessions", conference__id__exact=obj.pk),
        )

    @admin.display(description="connections")
    def connection_links(self, obj: Conference):
        return related_links(
            obj.connections.order_by("created_at"),
            more=changelist_link(Connection, "all connections", conference__id__exact=obj.pk),
        )

    @admin.display(description="recorded data")
    def recorded(self, obj: Conference):
        return recorded_lists(conference__id__exact=obj.pk)


@admin.register(Participant)
class ParticipantAdmin(RecordedDataAdmin):
    actions = ["erase"]
    list_display = ("participant_id", "participant_name", "is_sfu", "app_link", "created_at")
    list_filter = ("is_sfu", "app")
    list_select_related = ("app",)
    search_fields = ("participant_id", "participant_name")
    id_search_fields = ("pk", "app")
    search_help_text = "A participant id or name, or the UUID of a participant or app."
    ordering = ("-created_at",)

    @admin.action(description="Erase the selected participants and every row naming them")
    def erase(self, request, queryset) -> None:
        removed: dict[str, int] = {}
        for participant in queryset:
            for label, count in participant_erase(participant=participant).items():
                removed[label] = removed.get(label, 0) + count
        self.message_user(
            request,
            "Erased: "
            + (", ".join(f"{label} {count}" for label, count in removed.items()) or "nothing"),
        )

    fields = (
        "id",
        "app",
        "participant_id",
        "participant_name",
        "is_sfu",
        "created_at",
        "conference_links",
        "session_links",
    )
    readonly_fields = fields

    @admin.display(description="app", ordering="app__name")
    def app_link(self, obj: Participant):
        return admin_link(obj.app)

    @admin.display(description="conferences")
    def conference_links(self, obj: Participant):
        return related_links(
            obj.conferences.order_by("-created_at"),
            more=changelist_link(
                ConferenceParticipant, "all conferences", participant__id__exact=obj.pk
            ),
        )

    @admin.display(description="sessions")
    def session_links(self, obj: Participant):
        return related_links(
            obj.sessions.order_by("-created_at"),
            more=changelist_link(Session, "all sessions", participant__id__exact=obj.pk),
        )


@admin.register(ConferenceParticipant)
class ConferenceParticipantAdmin(RecordedDataAdmin):
    list_display = ("id", "conference_link", "participant_link", "created_at")
    list_select_related = ("conference", "participant")
    search_fields = ("conference__conference_id", "participant__participant_id")
    id_search_fields = ("conference", "participant")
    search_help_text = "A conference or participant id, or the UUID of a conference or participant."
    ordering = ("-pk",)
    fields = ("id", "conference", "participant", "created_at")
    readonly_fields = fields

    @admin.display(description="conference")
    def conference_link(self, obj: ConferenceParticipant):
        return admin_link(obj.conference)

    @admin.display(description="participant")
    def participant_link(self, obj: ConferenceParticipant):
        return admin_link(obj.participant)


@admin.register(Session)
class SessionAdmin(RecordedDataAdmin):
    list_display = (
        "id",
        "conference_link",
        "participant_link",
        "app_link",
        "webrtc_sdk",
        "created_at",
        "end_time",
        "duration",
    )
    list_filter = (("end_time", admin.EmptyFieldListFilter), "created_at", "app")
    list_select_related = ("app", "conference", "participant")
    search_fields = ("conference__conference_id", "participant__participant_id")
    id_search_fields = ("pk", "conference", "participant", "app")
    search_help_text = (
        "A conference or participant id, or the UUID of a session, conference, participant or app."
    )
    ordering = ("-created_at",)
    constraints_json = json_display("constraints")
    devices_json = json_display("devices")
    platform_json = json_display("platform")
    metadata_json = json_display("metadata")
    geo_ip_json = json_display("geo_ip", "geo ip")
    session_info_json = json_display("session_info")
    fields = (
        "id",
        "app",
        "conference",
        "participant",
        "created_at",
        "call_start",
        "end_time",
        "duration",
        "app_version",
        "webrtc_sdk",
        "platform_json",
        "devices_json",
        "constraints_json",
        "metadata_json",
        "geo_ip_json",
        "session_info_json",
        "connection_links",
        "track_links",
        "recorded",
    )
    readonly_fields = fields

    @admin.display(description="app", ordering="app__name")
    def app_link(self, obj: Session):
        return admin_link(obj.app)

    @admin.display(description="conference")
    def conference_link(self, obj: Session):
        return admin_link(obj.conference)

    @admin.display(description="participant")
    def participant_link(self, obj: Session):
        return admin_link(obj.participant)

    @admin.display(description="connections")
    def connection_links(self, obj: Session):
        return related_links(
            obj.connections.order_by("created_at"),
            more=changelist_link(Connection, "all connections", session__id__exact=obj.pk),
        )

    @admin.display(description="tracks")
    def track_links(self, obj: Session):
        return related_links(
            obj.tracks.order_by("created_at"),
            more=changelist_link(Track, "all tracks", session__id__exact=obj.pk),
        )

    @admin.display(description="recorded data")
    def recorded(self, obj: Session):
        return recorded_lists(session__id__exact=obj.pk)


@admin.register(Connection)
class ConnectionAdmin(RecordedDataAdmin):
    list_display = (
        "id",
        "conference_link",
        "participant_link",
        "peer_link",
        "type",
        "state",
        "start_time",
        "end_time",
        "duration",
    )
    list_filter = ("state", "type", "app")
    list_select_related = ("conference", "participant", "peer")
    search_fields = ("participant__participant_id", "peer__participant_id")
    id_search_fields = ("pk", "session", "conference", "participant", "peer", "app")
    search_help_text = (
        "A participant id (either end), or the UUID of a connection, session, conference, "
        "participant or app."
    )
    ordering = ("-created_at",)
    connection_info_json = json_display("connection_info")
    fields = (
        "id",
        "app",
        "conference",
        "session",
        "participant",
        "peer",
        "type",
        "state",
        "created_at",
        "start_time",
        "end_time",
        "duration",
        "connection_info_json",
        "track_links",
        "recorded",
    )
    readonly_fields = fields

    @admin.display(description="conference")
    def conference_link(self, obj: Connection):
        return admin_link(obj.conference)

    @admin.display(description="participant")
    def participant_link(self, obj: Connection):
        return admin_link(obj.participant)

    @admin.display(description="peer")
    def peer_link(self, obj: Connection):
        return admin_link(obj.peer)

    @admin.display(description="tracks")
    def track_links(self, obj: Connection):
        return related_links(
            obj.tracks.order_by("created_at"),
            more=changelist_link(Track, "all tracks", connection__id__exact=obj.pk),
        )

    @admin.display(description="recorded data")
    def recorded(self, obj: Connection):
        return recorded_lists(connection__id__exact=obj.pk)


@admin.register(Track)
class TrackAdmin(RecordedDataAdmin):
    list_display = (
        "track_id",
        "kind",
        "direction",
        "label",
        "session_link",
        "connection_link",
        "created_at",
    )
    list_filter = ("kind", "direction")
    list_select_related = ("session", "connection")
    search_fields = ("track_id", "label")
    id_search_fields = ("pk", "session", "connection")
    search_help_text = "A track id or label, or the UUID of a track, session or connection."
    ordering = ("-created_at",)
    track_info_json = json_display("track_info")
    fields = (
        "id",
        "session",
        "connection",
        "kind",
        "direction",
        "track_id",
        "label",
        "created_at",
        "track_info_json",
        "recorded",
    )
    readonly_fields = fields

    @admin.display(description="session")
    def session_link(self, obj: Track):
        return admin_link(obj.session)

    @admin.display(description="connection")
    def connection_link(self, obj: Track):
        return admin_link(obj.connection)

    @admin.display(description="recorded data")
    def recorded(self, obj: Track):
        return format_html(
            "{} · {}",
            changelist_link(EVENTS, "events", track__id__exact=obj.pk),
            changelist_link(ISSUES, "issues", track__id__exact=obj.pk),
        )
