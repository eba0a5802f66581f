from django.db import migrations


def partition(apps, schema_editor):
    from api.events.partitioning import SAMPLES, convert_to_partitioned

    convert_to_partitioned(schema_editor, SAMPLES)


class Migration(migrations.Migration):
    """PostgreSQL: events_statssample becomes partitioned by day (no-op on SQLite)."""

    dependencies = [("events", "0004_plain_foreign_keys")]
    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
