"""Admin for tenants: users, organizations, memberships, apps, usage, tokens.

These tables are small (one row per person, tenant, app, app-day), so they
keep Django's counts and date hierarchies; related rows are picked with
autocomplete widgets, never a ``<select>`` of a whole table.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Sum
from django.utils.html import format_html, format_html_join

from api.common.admin import IdSearchMixin, admin_link, changelist_link, related_links
from api.tenancy import services
from api.tenancy.models import (
    ApiToken,
    App,
    AppUsageDay,
    Invitation,
    Membership,
    Organization,
    User,
)

# Days of usage shown on an app's page; the full history is one click away.
USAGE_DAYS_SHOWN = 31


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user", "organization")
    fields = ("user", "organization", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(User)
class UserAdmin(IdSearchMixin, DjangoUserAdmin):
    # Django's UserAdmin: hashed passwords, the "change password" form.
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_superuser",
        "is_active",
        "last_login",
    )
    date_hierarchy = "date_joined"
    inlines = (MembershipInline,)


@admin.register(Organization)
class OrganizationAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ("name", "is_active", "app_count", "member_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    date_hierarchy = "created_at"
    fields = ("id", "name", "is_active", "created_at", "app_links")
    readonly_fields = ("id", "created_at", "app_links")
    inlines = (MembershipInline,)

    def get_queryset(self, request):
        # distinct: the two joins would otherwise multiply each other's rows.
        return (
            super()
            .get_queryset(request)
            .annotate(
                app_count=Count("apps", distinct=True),
                member_count=Count("memberships", distinct=True),
            )
        )

    @admin.display(description="apps", ordering="app_count")
    def app_count(self, obj: Organization) -> int:
        return obj.app_count  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Organization) -> int:
        return obj.member_count  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description="apps")
    def app_links(self, obj: Organization):
        return related_links(
            obj.apps.order_by("name"),
            more=changelist_link(App, "all apps", organization__id__exact=obj.pk),
        )


@admin.register(Membership)
class MembershipAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ("__str__", "user_link", "organization_link", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "user__email", "organization__name")
    id_search_fields = ("pk", "user", "organization")
    autocomplete_fields = ("user", "organization")
    fields = ("id", "user", "organization", "role", "created_at")
    readonly_fields = ("id", "created_at")

    @admin.display(description="user", ordering="user__username")
    def user_link(self, obj: Membership):
        return admin_link(obj.user)

    @admin.display(description="organization", ordering="organization__name")
    def organization_link(self, obj: Membership):
        return admin_link(obj.organization)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "role", "created_at", "expires_at", "accepted_at", "declined_at")
    list_filter = ("role",)
    search_fields = ("username", "email", "organization__name")
    readonly_fields = ("id", "created_at", "accepted_at", "declined_at")


@admin.register(App)
class AppAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "organization_link",
        "api_key",
        "recording",
        "interval",
        "domain",
        "is_active",
        "created_at",
    )
    list_filter = ("recording", "is_active")
    list_select_related = ("organization",)
    search_fields = ("name", "api_key", "domain", "organization__name")
    id_search_fields = ("pk", "organization")
    autocomplete_fields = ("organization",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "name",
        "organization",
        "api_key",
        "domain",
        "interval",
        "recording",
        "is_active",
        "created_at",
        "usage",
        "conferences",
    )
    actions = ("reset_api_key",)

    def get_readonly_fields(self, request, obj=None):
        readonly = ("id", "created_at", "usage", "conferences")
        # A new app may take a given key (an SDK already deployed with it);
        # afterwards the key changes only through the reset action, which
        # always draws a fresh random one.
        return readonly if obj is None else (*readonly, "api_key")

    @admin.display(description="organization", ordering="organization__name")
    def organization_link(self, obj: App):
        return admin_link(obj.organization)

    @admin.display(description=f"usage (last {USAGE_DAYS_SHOWN} days with calls)")
    def usage(self, obj: App):
        if obj.pk is None:
            return None
        days = list(obj.usage_days.order_by("-day")[:USAGE_DAYS_SHOWN])
        if not days:
            return None
        total = obj.usage_days.aggregate(total=Sum("seconds"))["total"]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((day.day.isoformat(), day.seconds, f"{day.seconds / 60:.1f}") for day in days),
        )
        return format_html(
            "<table><thead><tr><th>day (UTC)</th><th>seconds</th><th>minutes</th></tr></thead>"
            "<tbody>{}</tbody></table><p>{} seconds in total. {}</p>",
            rows,
            total,
            changelist_link(AppUsageDay, "Every day", app__id__exact=obj.pk),
        )

    @admin.display(description="conferences")
    def conferences(self, obj: App):
        if obj.pk is None:
            return None
        # calls is a layer above: linked by label, not imported.
        return changelist_link("calls.conference", "Conferences of this app", app__id__exact=obj.pk)

    @admin.action(description="Reset the api key of the selected apps")
    def reset_api_key(self, request, queryset):
        for app in queryset:
            services.app_key_reset(app=app)
        self.message_user(
            request,
            f"{len(queryset)} app(s) have a new api key; SDKs using the old one are refused.",
            messages.SUCCESS,
        )


@admin.register(AppUsageDay)
class AppUsageDayAdmin(admin.ModelAdmin):
    """Connected seconds per app and day, written by the call lifecycle:
    read-only, it is what usage is billed on."""

    list_display = ("day", "app_link", "seconds", "minutes")
    list_filter = ("app",)
    list_select_related = ("app",)
    search_fields = ("app__name", "app__api_key")
    date_hierarchy = "day"
    ordering = ("-day", "app__name")
    fields = ("app", "day", "seconds")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="app", ordering="app__name")
    def app_link(self, obj: AppUsageDay):
        return admin_link(obj.app)

    @admin.display(description="minutes", ordering="seconds")
    def minutes(self, obj: AppUsageDay) -> str:
        return f"{obj.seconds / 60:.1f}"


@admin.register(ApiToken)
class ApiTokenAdmin(IdSearchMixin, admin.ModelAdmin):
    """Personal API tokens. The secret is shown once, by whatever issues it;
    the stored SHA-256 is of no use to read and must never be edited (a
    hand-typed hash matches no token), so it is not shown at all. Tokens are
    revoked here by setting ``revoked at``."""

    list_display = ("name", "user_link", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    id_search_fields = ("pk", "user")
    fields = ("id", "name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("id", "user", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        # Issuing a token means handing its secret to someone once: that is
        # the dashboard's job, not a form that stores a hash.
        return False

    @admin.display(description="user", ordering="user__username")
    def user_link(self, obj: ApiToken):
        return admin_link(obj.user)
