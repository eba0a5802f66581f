# The search endpoint ranks by trigram similarity on PostgreSQL. Creating
# the extension needs a role allowed to (a superuser, or the database owner
# on PostgreSQL 13+ where pg_trgm is a trusted extension). On SQLite this
# operation does nothing.
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = []

    operations = [TrigramExtension()]
