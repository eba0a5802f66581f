from django.db import migrations, models


class Migration(migrations.Migration):
    """The natural keys of a track are unique (api.calls.services.track_get_or_create).
    Its own migration: on PostgreSQL, the deletes of 0003 must be committed
    before the table is altered."""

    dependencies = [("calls", "0003_merge_duplicate_tracks")]

    operations = [
        migrations.AddConstraint(
            model_name="track",
            constraint=models.UniqueConstraint(
                fields=("connection", "direction", "track_id"), name="uniq_track_of_connection"
            ),
        ),
        migrations.AddConstraint(
            model_name="track",
            constraint=models.UniqueConstraint(
                condition=models.Q(("connection__isnull", True)),
                fields=("session", "track_id"),
                name="uniq_local_track_of_session",
            ),
        ),
    ]
