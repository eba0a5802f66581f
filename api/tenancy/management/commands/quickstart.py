"""Demo data for a first run: an organization, an app and an admin login.

Idempotent: a second run finds what the first made and prints it again."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from api.tenancy import services
from api.tenancy.models import App, Membership, Organization, User

DEMO_ORGANIZATION = "Demo organization"
DEMO_APP = "Demo app"


class Command(BaseCommand):
    help = "Create (once) a demo organization, app and admin user, and print how to use them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("QUICKSTART_USERNAME", "admin"))
        parser.add_argument(
            "--password",
            default=os.environ.get("QUICKSTART_PASSWORD"),
            help="Password of the admin user (default: 'admin' on a new user; "
            "an existing user keeps its password).",
        )
        parser.add_argument("--api-key", default=None, help="Use this api key for a new demo app.")

    def handle(self, *args, **options) -> None:
        username = options["username"]
        user = User.objects.filter(username=username).first()
        password_note = "(unchanged)"
        if user is None:
            password = options["password"] or "admin"
            user = User.objects.create_superuser(username=username, email="", password=password)
            password_note = password
        elif options["password"]:
            user.set_password(options["password"])
            user.save(update_fields=["password"])
            password_note = options["password"]

        organization = Organization.objects.filter(
            name=DEMO_ORGANIZATION, memberships__user=user
        ).first()
        if organization is None:
            organization = services.organization_create(name=DEMO_ORGANIZATION, owner=user)
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": Membership.Role.OWNER}
        )
        app = App.objects.filter(organization=organization, name=DEMO_APP).first()
        if app is None:
            app = services.app_create(
                organization=organization, name=DEMO_APP, api_key=options["api_key"]
            )

        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Organization: {organization.name} ({organization.pk})",
                    f"App:          {app.name} ({app.pk})",
                    f"API key:      {app.api_key}",
                    f"Admin login:  {user.username} / {password_note}   -> /admin/",
                    "SDK:          new PeerMetrics({apiKey: '" + app.api_key + "', "
                    "apiRoot: 'http://localhost:8000/v1', ...})",
                    "",
                ]
            )
        )
