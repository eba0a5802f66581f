"""Admin for the two largest tables: SDK events and stats samples.

Besides what ``RecordedDataAdmin`` already avoids (full counts, facets), the
lists here are ordered by primary key only: the ids are UUIDv7, so newest
first is a backward walk of the primary-key index, while sorting on any
other column, or a date hierarchy, would read the whole table. Filters are
the ones that need no query to draw (fixed choices, the short app list).
"""

from __future__ import annotations

import orjson
from django.contrib import admin
from django.utils.html import format_html

from api.common.admin import RecordedDataAdmin, admin_link, json_display, pretty_json
from api.events.models import GenericEvent, StatsSample


class EventTableAdmin(RecordedDataAdmin):
    ordering = ("-pk",)
    sortable_by = ()

    @admin.display(description="conference")
    def conference_link(self, obj):
        return admin_link(obj.conference)

    @admin.display(description="session")
    def session_link(self, obj):
        return admin_link(obj.session)

    @admin.display(description="participant")
    def participant_link(self, obj):
        return admin_link(obj.participant)

    @admin.display(description="connection")
    def connection_link(self, obj):
        return admin_link(obj.connection)


@admin.register(GenericEvent)
class GenericEventAdmin(EventTableAdmin):
    list_display = (
        "__str__",
        "created_at",
        "category",
        "type",
        "conference_link",
        "participant_link",
        "session_link",
        "connection_link",
    )
    list_filter = ("category", "app")
    list_select_related = ("conference", "participant", "session", "connection")
    # Exact, case-sensitive: ``type`` has no index, and a contains-search
    # would read every row that does not match.
    search_fields = ("type__exact",)
    id_search_fields = ("pk", "conference", "session", "connection", "participant", "peer", "track")
    search_help_text = (
        "An exact event type (e.g. onconnectionstatechange), or the UUID of an event, "
        "conference, session, connection, participant or track."
    )
    data_json = json_display("data")
    fields = (
        "id",
        "created_at",
        "category",
        "type",
        "app",
        "conference",
        "session",
        "participant",
        "peer",
        "connection",
        "track",
        "fingerprint",
        "data_json",
    )
    readonly_fields = fields


@admin.register(StatsSample)
class StatsSampleAdmin(EventTableAdmin):
    list_display = (
        "__str__",
        "created_at",
        "conference_link",
        "participant_link",
        "peer_link",
        "session_link",
        "connection_link",
    )
    list_filter = ("app",)
    # The session, participant and peer are the connection's.
    list_select_related = (
        "conference",
        "connection__participant",
        "connection__peer",
        "connection__session",
    )
    id_search_fields = (
        "pk",
        "conference",
        "connection",
        "connection__session",
        "connection__participant",
        "connection__peer",
    )
    search_help_text = (
        "The UUID of a stats sample, or of its conference, session, connection or participant."
    )
    fields = (
        "id",
        "created_at",
        "app",
        "conference",
        "session",
        "participant",
        "peer",
        "connection",
        "digest_hex",
        "stored_size",
        "report",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # The compressed report is read only on the change page, where the
        # deferred column costs one more query; lists never load it.
        return super().get_queryset(request).defer("raw")

    @admin.display(description="session")
    def session_link(self, obj: StatsSample):
        return admin_link(obj.connection.session)

    @admin.display(description="participant")
    def participant_link(self, obj: StatsSample):
        return admin_link(obj.connection.participant)

    @admin.display(description="peer")
    def peer_link(self, obj: StatsSample):
        return admin_link(obj.connection.peer)

    session = session_link
    participant = participant_link
    peer = peer_link

    @admin.display(description="digest")
    def digest_hex(self, obj: StatsSample) -> str:
        return bytes(obj.digest).hex()

    @admin.display(description="stored size")
    def stored_size(self, obj: StatsSample) -> str:
        return f"{len(obj.raw)} bytes compressed"

    @admin.display(description="report (as the SDK sent it)")
    def report(self, obj: StatsSample):
        try:
            return pretty_json(obj.data)
        except (ValueError, orjson.JSONDecodeError) as exc:
            # A damaged row must not make its own page fail to open.
            return format_html("<em>Unreadable report: {}</em>", exc)
