from __future__ import annotations

from django.db import models

from api.tenancy.models import App, User


class Preference(models.Model):
    """What the dashboard remembers for a user: the app last looked at."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="dashboard_preference"
    )
    app = models.ForeignKey(App, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.app_id}"
