"""Admin for call-quality issues (view and delete only: detectors write them)."""

from __future__ import annotations

from django.contrib import admin

from api.common.admin import RecordedDataAdmin, admin_link, json_display
from api.quality.models import Issue, TrackMetric

# Rows read to find the issue codes offered as filters.
CODE_SAMPLE_ROWS = 5_000


class CodeFilter(admin.SimpleListFilter):
    """Filter by issue code.

    Django's default filter for a plain field runs ``SELECT DISTINCT code``
    over the whole table on every list page. Codes come from a short list of
    detectors, so the distinct codes of a bounded slice of rows name them
    all in practice; any other code still filters through the URL
    (``?code=…``) or the search box."""

    title = "code"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        sample = Issue.objects.order_by().values_list("code", flat=True)[:CODE_SAMPLE_ROWS]
        return [(code, code) for code in sorted(set(sample))]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(code=self.value())
        return queryset


@admin.register(Issue)
class IssueAdmin(RecordedDataAdmin):
    list_display = (
        "code",
        "type",
        "subject",
        "conference_link",
        "session_link",
        "connection_link",
        "peak_value",
        "created_at",
        "resolved_at",
    )
    list_filter = ("type", CodeFilter, ("resolved_at", admin.EmptyFieldListFilter), "app")
    list_select_related = ("conference", "session", "connection")
    search_fields = ("code__exact", "subject__exact")
    id_search_fields = ("pk", "conference", "session", "participant", "connection", "track")
    search_help_text = (
        "An exact code or subject, or the UUID of an issue, conference, session, participant, "
        "connection or track."
    )
    ordering = ("-created_at",)
    data_json = json_display("data", "evidence")
    fields = (
        "id",
        "type",
        "code",
        "subject",
        "created_at",
        "resolved_at",
        "duration",
        "peak_value",
        "app",
        "conference",
        "session",
        "participant",
        "connection",
        "track",
        "data_json",
    )
    readonly_fields = fields

    @admin.display(description="conference")
    def conference_link(self, obj: Issue):
        return admin_link(obj.conference)

    @admin.display(description="session")
    def session_link(self, obj: Issue):
        return admin_link(obj.session)

    @admin.display(description="connection")
    def connection_link(self, obj: Issue):
        return admin_link(obj.connection)

    @admin.display(description="duration (s)")
    def duration(self, obj: Issue):
        return obj.duration


@admin.register(TrackMetric)
class TrackMetricAdmin(RecordedDataAdmin):
    """Per-track metrics: one row per track per stats sample, so a list is
    ordered by primary key only (no sort over a growing table)."""

    list_display = (
        "created_at",
        "kind",
        "direction",
        "connection_link",
        "bitrate",
        "loss_pct",
        "jitter_ms",
        "rtt_ms",
        "fps",
        "mos",
        "video_score",
        "limitation",
    )
    list_filter = ("kind", "direction")
    list_select_related = ("connection",)
    ordering = ("-pk",)
    sortable_by = ()
    id_search_fields = ("connection__conference", "connection", "track")
    search_help_text = "The UUID of a conference, connection or track."
    readonly_fields = [f.name for f in TrackMetric._meta.fields]

    @admin.display(description="connection")
    def connection_link(self, obj: TrackMetric):
        return admin_link(obj.connection)
