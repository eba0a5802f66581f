"""One row per track, before the natural keys become unique constraints (0004).

Tracks were created in three places with two lookup keys and no
constraint, so a race could leave two rows for one track. Before the
constraints are added, each group of duplicates is merged into its oldest
row: what the others knew (kind, label, track info) fills in what it
lacks, the events, issues and metric rows that point at a duplicate are
pointed at it, and the duplicates are deleted. A database without
duplicates (the usual case) costs two grouped reads.
"""

from django.db import migrations
from django.db.models import Count, Q

# (the filter of one group of rows, the fields of its natural key)
KEYS = (
    (Q(connection__isnull=False), ("connection_id", "direction", "track_id")),
    (Q(connection__isnull=True), ("session_id", "track_id")),
)


def merge_duplicate_tracks(apps, schema_editor):
    Track = apps.get_model("calls", "Track")
    pointing = [
        apps.get_model("events", "GenericEvent"),
        apps.get_model("quality", "Issue"),
        apps.get_model("quality", "TrackMetric"),
    ]
    for scope, fields in KEYS:
        groups = (
            Track.objects.filter(scope)
            .values(*fields)
            .annotate(rows=Count("id"))
            .filter(rows__gt=1)
        )
        for group in groups:
            key = {name: group[name] for name in fields}
            keep, *duplicates = Track.objects.filter(scope, **key).order_by("created_at", "id")
            info = dict(keep.track_info or {})
            for other in duplicates:
                keep.kind = keep.kind or other.kind
                keep.label = keep.label or other.label
                for name, value in (other.track_info or {}).items():
                    info.setdefault(name, value)
            keep.track_info = info
            keep.save(update_fields=["kind", "label", "track_info"])
            ids = [other.pk for other in duplicates]
            for model in pointing:
                model.objects.filter(track_id__in=ids).update(track_id=keep.pk)
            Track.objects.filter(pk__in=ids).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_initial"),
        # The tables that point at tracks, as they are now.
        ("events", "0006_sample_owner_through_connection"),
        ("quality", "0006_metric_one_deduplicated_index"),
    ]

    operations = [
        migrations.RunPython(merge_duplicate_tracks, migrations.RunPython.noop, elidable=False),
    ]
