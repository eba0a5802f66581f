"""Which conferences came from a dump (view only)."""

from __future__ import annotations

from django.contrib import admin

from api.common.admin import RecordedDataAdmin, admin_link, json_display
from api.interop.models import ImportedDump


@admin.register(ImportedDump)
class ImportedDumpAdmin(RecordedDataAdmin):
    list_display = (
        "conference_link",
        "format",
        "filename",
        "size",
        "stats_truncated",
        "created_at",
    )
    list_filter = ("format",)
    id_search_fields = ("pk",)
    search_fields = ("filename",)
    ordering = ("-created_at",)
    summary_display = json_display("summary")
    fields = (
        "conference_link",
        "format",
        "filename",
        "size",
        "imported_by",
        "stats_truncated",
        "summary_display",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="conference")
    def conference_link(self, obj: ImportedDump):
        return admin_link(obj.conference)
