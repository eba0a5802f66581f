"""Search over the caller's conferences, participants, apps and
organizations.

On PostgreSQL candidates are found by trigram similarity (``pg_trgm``,
which the query app's migration enables) or substring, ranked by
similarity. SQLite has no trigram index: there a case-insensitive substring
match finds candidates and Python ranks them with a portable similarity, so
the answer has the same shape and roughly the same order.

Every query is scoped to the caller's organizations, and a thing that
matches on two fields (a conference by id and by name) is listed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from django.conf import settings
from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest

from api.calls.models import Conference, Participant
from api.tenancy.models import App, Organization, User
from api.tenancy.selectors import apps_visible_to, organizations_visible_to

MAX_RESULTS = 10
# pg_trgm's default for its ``%`` operator.
TRIGRAM_THRESHOLD = 0.3
# Candidates read per kind before ranking.
_CANDIDATES = 50


@dataclass(frozen=True)
class Match:
    kind: str
    pk: object
    name: str | None
    ident: str
    score: float

    @property
    def url(self) -> str:
        base = {
            "conference": "/conference/",
            "participant": "/participant/",
            "app": "/app/",
            "organization": "/organization/",
        }[self.kind]
        return f"{base}{self.pk}"


@dataclass(frozen=True)
class _Target:
    kind: str
    fields: tuple[str, ...]
    name_field: str
    ident_field: str | None


_TARGETS = (
    _Target("conference", ("conference_id", "conference_name"), "conference_name", "conference_id"),
    _Target(
        "participant", ("participant_id", "participant_name"), "participant_name", "participant_id"
    ),
    _Target("app", ("name",), "name", None),
    _Target("organization", ("name",), "name", None),
)


def _querysets(user: User) -> dict[str, QuerySet]:
    apps = apps_visible_to(user=user)
    return {
        "conference": Conference.objects.filter(app__in=apps.values("pk")),
        "participant": Participant.objects.filter(app__in=apps.values("pk")),
        "app": App.objects.filter(pk__in=apps.values("pk")),
        "organization": Organization.objects.filter(pk__in=organizations_visible_to(user=user)),
    }


def _similarity(query: str, value: str | None) -> float:
    if not value:
        return 0.0
    value = value.lower()
    if value == query:
        return 1.0
    return SequenceMatcher(None, query, value).ratio()


def _candidates_postgres(target: _Target, queryset: QuerySet, query: str) -> list[Match]:
    similarities = [TrigramSimilarity(field, query) for field in target.fields]
    score = similarities[0] if len(similarities) == 1 else Greatest(*similarities)
    contains = Q()
    for field in target.fields:
        contains |= Q(**{f"{field}__icontains": query})
    rows = (
        queryset.annotate(score=score)
        .filter(Q(score__gte=TRIGRAM_THRESHOLD) | contains)
        .order_by(F("score").desc(nulls_last=True), "pk")
        .values("pk", "score", *target.fields)[:_CANDIDATES]
    )
    return [_match(target, row, float(row["score"] or 0.0)) for row in rows]


def _candidates_portable(target: _Target, queryset: QuerySet, query: str) -> list[Match]:
    contains = Q()
    for field in target.fields:
        contains |= Q(**{f"{field}__icontains": query})
    rows = queryset.filter(contains).order_by("pk").values("pk", *target.fields)[:_CANDIDATES]
    lowered = query.lower()
    return [
        _match(target, row, max(_similarity(lowered, row[field]) for field in target.fields))
        for row in rows
    ]


def _match(target: _Target, row: dict, score: float) -> Match:
    ident = row[target.ident_field] if target.ident_field else ""
    return Match(
        kind=target.kind, pk=row["pk"], name=row[target.name_field], ident=ident, score=score
    )


def search(*, user: User, query: str) -> list[Match]:
    """The best matches for ``query`` among what ``user`` may see, best
    first, each thing once."""
    querysets = _querysets(user)
    find = _candidates_postgres if settings.IS_POSTGRES else _candidates_portable
    best: dict[tuple[str, object], Match] = {}
    for target in _TARGETS:
        for match in find(target, querysets[target.kind], query):
            key = (match.kind, match.pk)
            if key not in best or match.score > best[key].score:
                best[key] = match
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.kind, str(m.pk)))
    return ranked[:MAX_RESULTS]
