"""Demo data for a first run: an organization, an app and an admin login.

Idempotent: a second run finds what the first made and prints it again.
In production (DEBUG off) a new admin gets a random password, printed once,
never ``admin``."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from api.tenancy import services
from api.tenancy.models import App, Membership, Organization, User

DEMO_ORGANIZATION = "Demo organization"
DEMO_APP = "Demo app"


class Command(BaseCommand):
    help = "Create (once) a demo organization, app and admin user, and print how to use them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password",
            default=None,
            help="Password of the admin user (default for a new user: 'admin' with DEBUG on, "
            "a random one printed once without; an existing user keeps its password).",
        )
        parser.add_argument("--api-key", default=None, help="Use this api key for a new demo app.")
        parser.add_argument(
            "--url",
            default="http://localhost:8000/",
            help="Where the server will answer, for the links printed.",
        )

    def handle(self, *args, **options) -> None:
        username = options["username"]
        user = User.objects.filter(username=username).first()
        password_note = "(unchanged)"
        if user is None:
            password = options["password"] or (
                "admin" if settings.DEBUG else secrets.token_urlsafe(12)
            )
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

        url = options["url"].rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Dashboard     {url}/    login: {user.username} / {password_note}",
                    f"  Admin         {url}/admin/    (the same login)",
                    f"  API docs      {url}/v1/docs",
                    f"  API key       {app.api_key}    ({app.name} of {organization.name})",
                    f"  SDK           new PeerMetrics({{apiKey: '{app.api_key}', "
                    f"apiRoot: '{url}/v1', userId, conferenceId}})",
                    "",
                ]
            )
        )
