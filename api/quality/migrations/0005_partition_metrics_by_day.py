from django.db import migrations


def partition(apps, schema_editor):
    from api.events.partitioning import convert_to_partitioned
    from api.quality.models import METRIC_PARTITIONS

    convert_to_partitioned(schema_editor, METRIC_PARTITIONS)


class Migration(migrations.Migration):
    """PostgreSQL: quality_trackmetric becomes partitioned by day (no-op on SQLite)."""

    dependencies = [
        ("quality", "0004_plain_foreign_keys"),
        ("events", "0005_partition_samples_by_day"),
    ]
    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
