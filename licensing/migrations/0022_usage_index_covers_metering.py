"""The usage index on (lease, occurred_at) carries kind, asset and quantity too, so a period
close's batch sums its lease range of a month from the index alone (an index-only scan): read
from the table, a range of 100 leases out of 10,000 touched half the month's pages, its events
lying scattered among every other lease's. It replaces the plain index (same key, same queries
served), so an insert still updates the same number of indexes, each entry wider.

On PostgreSQL a partitioned table's index cannot be built CONCURRENTLY, and a plain build
blocks every insert into usage (gateway downloads included) for as long as it reads the
table. So it is built as PostgreSQL's manual describes for partitions: the parent's index
ON ONLY the parent (invalid, no rows), each partition's CONCURRENTLY, each attached; the
parent's becomes valid when the last one is. Not atomic: rerun after an interruption, an
invalid partition index left behind is dropped and built again."""

from django.db import migrations, models

PARENT = "licensing_usageevent"
NAME = "usage_event_lease_time"
COLUMNS = "(lease_id, occurred_at) INCLUDE (kind, asset_id, quantity)"
INDEX = models.Index(fields=["lease", "occurred_at"], include=("kind", "asset", "quantity"), name=NAME)


def build(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(apps.get_model("licensing", "UsageEvent"), INDEX)
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON ONLY {PARENT} {COLUMNS}")
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [PARENT],
        )
        for (partition,) in cursor.fetchall():
            index = f"{partition}_lease_time"  # names from the catalogue, never from input
            cursor.execute(
                "SELECT NOT x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
                "WHERE c.relname = %s",
                [index],
            )
            row = cursor.fetchone()
            if row and row[0]:  # a concurrent build interrupted earlier
                cursor.execute(f"DROP INDEX CONCURRENTLY {index}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {partition} {COLUMNS}")
            cursor.execute(f"ALTER INDEX {NAME} ATTACH PARTITION {index}")


def unbuild(apps, schema_editor):
    schema_editor.remove_index(apps.get_model("licensing", "UsageEvent"), INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("licensing", "0021_quota_columns_have_database_defaults"),
        ("trust", "0012_consent_caps"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="usageevent", index=INDEX)],
            database_operations=[migrations.RunPython(build, unbuild)],
        ),
        migrations.RemoveIndex(
            model_name="usageevent",
            name="licensing_u_lease_i_4bb06a_idx",
        ),
    ]
