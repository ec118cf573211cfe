"""A close's batches read a lease range of a period's usage from the usage index alone, which
needs the partitions' pages marked all-visible: the close vacuums the period's partitions.
Committed rows (VACUUM runs outside any transaction), so in a module of its own: the other
partition tests share rows built once per module."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from licensing import partitions
from licensing.models import UsageEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_vacuuming_a_period_marks_its_usage_pages_all_visible(committed_world):
    at = datetime(2001, 5, 3, tzinfo=UTC)
    partitions.ensure_usage_partitions([(2001, 5)])
    UsageEvent.objects.bulk_create(
        UsageEvent(
            lease=committed_world.lease_a,
            event_key=f"v{n}",
            kind="download",
            quantity=1,
            occurred_at=at,
            source="gateway",
        )
        for n in range(500)
    )
    name = partitions.partition_name(2001, 5)
    assert name in partitions.vacuum_usage_of(at, at + timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpages, relallvisible FROM pg_class WHERE relname = %s", [name])
        pages, visible = cursor.fetchone()
    assert pages > 0 and visible == pages
