from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from api.common.admin import CappedCountPaginator, IdSearchMixin
from api.tenancy.models import Organization


def test_every_model_of_the_api_apps_has_an_admin():
    # Given every model the project defines
    models = [
        model
        for config in apps.get_app_configs()
        if config.name.startswith("api.")
        for model in config.get_models()
    ]

    # Then each is registered with the admin, so a new model without one fails here
    missing = [model.__name__ for model in models if model not in admin.site._registry]
    assert models and missing == []


@pytest.mark.django_db
def test_the_capped_paginator_counts_exactly_below_the_cap():
    # Given three rows and a cap of five
    for name in ("a", "b", "c"):
        Organization.objects.create(name=name)
    paginator = CappedCountPaginator(Organization.objects.order_by("name"), per_page=2)
    paginator.cap = 5

    # Then the count is exact and not marked as capped
    assert paginator.count == 3
    assert paginator.is_capped is False
    assert paginator.num_pages == 2


@pytest.mark.django_db
def test_the_capped_paginator_stops_counting_after_the_cap(django_assert_num_queries):
    # Given more rows than the cap
    for index in range(8):
        Organization.objects.create(name=f"org {index}")
    paginator = CappedCountPaginator(Organization.objects.order_by("name"), per_page=2)
    paginator.cap = 5

    # When it counts (one query, bounded by a LIMIT)
    with django_assert_num_queries(1) as captured:
        count = paginator.count

    # Then it says "more than the cap", and its pages end at the cap
    assert "LIMIT 6" in captured.captured_queries[0]["sql"]
    assert count == 6
    assert paginator.is_capped is True
    assert [o.name for o in paginator.page(3).object_list] == ["org 4", "org 5"]


class _Search(IdSearchMixin, admin.ModelAdmin):
    search_fields = ("name",)


@pytest.mark.django_db
def test_a_uuid_term_finds_the_row_by_id_and_other_terms_search_text(rf):
    # Given two organizations
    acme = Organization.objects.create(name="Acme")
    Organization.objects.create(name="Globex")
    model_admin = _Search(Organization, admin.site)
    request = rf.get("/")
    queryset = Organization.objects.all()

    # When searching by an id, by text, and by text shaped like an api key
    by_id, _ = model_admin.get_search_results(request, queryset, f" {acme.pk} ")
    by_text, _ = model_admin.get_search_results(request, queryset, "glob")
    by_hex, _ = model_admin.get_search_results(request, queryset, acme.pk.hex)

    # Then the id matches exactly, and 32 hex characters are searched as text
    assert list(by_id) == [acme]
    assert [o.name for o in by_text] == ["Globex"]
    assert list(by_hex) == []


@pytest.mark.django_db
def test_without_text_search_fields_a_non_uuid_term_matches_nothing(rf):
    # Given an admin searching ids only
    class IdsOnly(IdSearchMixin, admin.ModelAdmin):
        pass

    Organization.objects.create(name="Acme")
    model_admin = IdsOnly(Organization, admin.site)

    # When searching for text
    results, _ = model_admin.get_search_results(rf.get("/"), Organization.objects.all(), "Acme")

    # Then nothing matches (no scan of a column that was not meant to be searched),
    # and the search box is still shown
    assert list(results) == []
    assert model_admin.get_search_fields(rf.get("/")) == ("pk",)
