"""The usage index on (lease, occurred_at) carries kind, asset and quantity too, so a period
close's batch sums its lease range of a month from the index alone (an index-only scan): read
from the table, a range of 100 leases out of 10,000 touched half the month's pages, its events
lying scattered among every other lease's. It replaces the plain index (same key, same queries
served), so an insert still updates the same number of indexes, each entry wider.

On PostgreSQL the index is built on every partition, holding a lock that blocks inserts into
usage while it builds (a partitioned index cannot be built concurrently): run it in a quiet
window on a large trust."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("licensing", "0021_quota_columns_have_database_defaults"),
        ("trust", "0012_consent_caps"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="usageevent",
            index=models.Index(
                fields=["lease", "occurred_at"],
                include=("kind", "asset", "quantity"),
                name="usage_event_lease_time",
            ),
        ),
        migrations.RemoveIndex(
            model_name="usageevent",
            name="licensing_u_lease_i_4bb06a_idx",
        ),
    ]
