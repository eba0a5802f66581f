from __future__ import annotations

from django.contrib import admin

from api.dashboard.models import Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "app")
    raw_id_fields = ("user", "app")
