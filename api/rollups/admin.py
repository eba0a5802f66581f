"""Admin for rollups: read-only (they are computed; rebuild_rollups
recomputes them)."""

from __future__ import annotations

from django.contrib import admin

from api.rollups.models import AppDay, CallSummary


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallSummary)
class CallSummaryAdmin(_ReadOnly):
    list_display = ("conference", "app", "day", "outcome", "seconds", "participants", "mos_min")
    list_filter = ("outcome",)
    raw_id_fields = ("conference", "app")
    date_hierarchy = "day"


@admin.register(AppDay)
class AppDayAdmin(_ReadOnly):
    list_display = ("app", "day", "updated_at")
    raw_id_fields = ("app",)
    date_hierarchy = "day"
