"""Building blocks shared by the apps' admins.

The calls, events and quality tables grow with traffic (a one-hour call of
four people leaves thousands of events and stats samples), so their admin
pages must cost the same on a table of ten million rows as on ten: no
``COUNT(*)`` over the whole table, no facet counts, no sorting on columns
without an index, no ``<select>`` listing every row of a related table.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``cap + 1`` rows.

    Django's paginator runs ``SELECT COUNT(*)`` over the filtered queryset,
    which reads the whole table on PostgreSQL. Counting inside a ``LIMIT``
    subquery stops after ``cap + 1`` rows whatever the table size, works with
    every filter and search (an estimate from ``pg_class.reltuples`` would
    only describe the unfiltered table, is -1 before the first ANALYZE and
    does not exist on SQLite), and stays exact for the small result sets an
    operator actually pages through. Beyond the cap the list says "more
    than 10000" and pages stop at the cap; filters narrow it down.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # Ordering is irrelevant to a count and would make the database sort.
        queryset = cast(QuerySet, self.object_list)
        return queryset.order_by()[: self.cap + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap


class IdSearchMixin:
    """One search box for ids and text.

    A term written as a UUID (``8-4-4-4-12`` hex, the form the admin's own
    URLs show) is looked up exactly in ``id_search_fields``: an indexed
    equality, which also matches on SQLite where UUIDs are stored without
    dashes (a text ``icontains`` on the column would not). Any other term goes
    to ``search_fields``; without any, it matches nothing rather than
    scanning a large table.
    """

    id_search_fields: tuple[str, ...] = ("pk",)

    def get_search_fields(self, request):
        # The search box is shown only when there are search fields.
        return self.search_fields or self.id_search_fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if len(term) == 36:
            try:
                value = uuid.UUID(term)
            except ValueError:
                pass
            else:
                lookups = [(name, value) for name in self.id_search_fields]
                return queryset.filter(models.Q.create(lookups, connector=models.Q.OR)), False
        if not term:
            return queryset, False
        if not self.search_fields:
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


class RecordedDataAdmin(IdSearchMixin, admin.ModelAdmin):
    """Admin for the rows the SDK flow writes (calls, events, issues).

    View and delete only: these rows are a record of what happened, derived
    together (durations from end times, usage from durations), and a hand
    edit would silently break those invariants. Every list page costs a
    bounded amount whatever the table size (see the module docstring).
    """

    paginator = CappedCountPaginator
    show_full_result_count = False
    # Facet counts ("Show counts") run one COUNT per filter choice.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def admin_link(obj: models.Model | None, label: Any = None) -> str | None:
    """A link to ``obj``'s admin change page (None shows as the empty value)."""
    if obj is None:
        return None
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if label is None else label)


def changelist_link(model: type[models.Model] | str, label: str, **filters: Any) -> str:
    """A link to ``model``'s admin list, filtered by ``filters``. A model of
    a higher layer is named by its label (``"events.genericevent"``): a
    page may link to it, the app may not import it."""
    if isinstance(model, str):
        app_label, model_name = model.split(".")
    else:
        app_label, model_name = model._meta.app_label, str(model._meta.model_name)
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    query = urlencode({name: str(value) for name, value in filters.items()})
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


def related_links(queryset: models.QuerySet, *, limit: int = 20, more: str = "") -> str | None:
    """Links to the first ``limit`` rows of ``queryset``, and ``more`` (a link
    to the full list) when there are more: a related list that stays one
    bounded query however many rows there are."""
    rows = list(queryset[: limit + 1])
    if not rows:
        return None
    items = format_html_join("", "<li>{}</li>", ((admin_link(row),) for row in rows[:limit]))
    if more:
        items = format_html("{}<li>{}{}</li>", items, "… " if len(rows) > limit else "", more)
    return format_html('<ul style="margin: 0; padding-left: 1.2em">{}</ul>', items)


def pretty_json(value: Any) -> str | None:
    """JSON indented for reading, HTML-escaped, in a ``<pre>``."""
    if value is None:
        return None
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return format_html(
        '<pre style="white-space: pre-wrap; word-break: break-all; margin: 0">{}</pre>', text
    )


def json_display(field_name: str, description: str | None = None):
    """A read-only admin column showing the JSON field ``field_name``
    pretty-printed. Assign it to a ModelAdmin attribute and list that
    attribute's name in ``fields`` and ``readonly_fields`` instead of the
    field itself (Django would show the field as one compact line, or as an
    editable textarea)."""

    @admin.display(description=description or field_name.replace("_", " "))
    def display(model_admin, obj):
        return pretty_json(getattr(obj, field_name))

    return display
