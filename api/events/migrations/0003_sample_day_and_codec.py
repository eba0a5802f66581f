import datetime

from django.db import migrations, models
from django.db.models.functions import TruncDate


def fill_day(apps, schema_editor):
    StatsSample = apps.get_model("events", "StatsSample")
    StatsSample.objects.update(day=TruncDate("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="statssample", name="uniq_sample_digest"),
        migrations.AddField(
            model_name="statssample",
            name="day",
            field=models.DateField(default=datetime.date(1970, 1, 1)),
            preserve_default=False,
        ),
        migrations.RunPython(fill_day, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="statssample",
            name="raw",
            field=models.BinaryField(
                help_text="The report as sent, compressed (api.events.codec)."
            ),
        ),
        migrations.AddConstraint(
            model_name="statssample",
            constraint=models.UniqueConstraint(
                fields=("connection", "digest", "day"), name="uniq_sample_digest"
            ),
        ),
    ]
