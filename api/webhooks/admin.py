"""Admin of webhook endpoints (the secret is never shown) and of the
delivery log: status, attempts, latency, the body sent, each attempt."""

from __future__ import annotations

from django.contrib import admin

from api.common.admin import RecordedDataAdmin, admin_link
from api.webhooks import services
from api.webhooks.models import Attempt, Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "app", "enabled", "disabled_reason", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    raw_id_fields = ("app",)
    # The secret is shown once, by the API, and never here.
    exclude = ("secret",)
    readonly_fields = ("disabled_at", "created_at")
    actions = ["send_test_event"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # through the API: it answers the secret once

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset) -> None:
        for endpoint in queryset:
            services.test_event_send(endpoint=endpoint)
        self.message_user(request, f"{queryset.count()} test events queued (see Deliveries).")


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "response_status", "latency_ms", "error", "response_body")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(RecordedDataAdmin):
    list_display = (
        "event_type",
        "endpoint_link",
        "status",
        "attempts",
        "response_status",
        "latency_ms",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type")
    id_search_fields = ("pk", "endpoint_id")
    search_fields = ("message_id",)
    ordering = ("-created_at",)
    inlines = [AttemptInline]
    fields = (
        "endpoint_link",
        "event_type",
        "message_id",
        "status",
        "attempts",
        "response_status",
        "error",
        "latency_ms",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "body",
    )
    readonly_fields = fields

    @admin.display(description="endpoint")
    def endpoint_link(self, obj: Delivery):
        return admin_link(obj.endpoint)


@admin.register(Attempt)
class AttemptAdmin(RecordedDataAdmin):
    list_display = ("delivery_link", "number", "at", "response_status", "latency_ms", "error")
    id_search_fields = ("delivery_id",)
    ordering = ("-at",)
    fields = (
        "delivery_link",
        "number",
        "at",
        "response_status",
        "latency_ms",
        "error",
        "response_body",
    )
    readonly_fields = fields

    @admin.display(description="delivery")
    def delivery_link(self, obj: Attempt):
        return admin_link(obj.delivery)
