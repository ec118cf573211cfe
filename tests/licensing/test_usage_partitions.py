"""usage_event is partitioned by month on PostgreSQL: usage lands in its month's partition,
rows that reached the default partition move when their month's partition is made, and the
daily task makes partitions ahead. Readers see one table throughout."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from licensing import partitions
from licensing.models import Lease, UsageEvent
from licensing.tasks import make_usage_partitions
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


def _partition_of(event_key: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {UsageEvent._meta.db_table} WHERE event_key = %s",
            [event_key],
        )
        return cursor.fetchone()[0]


def test_back_dated_usage_lands_in_its_month_partition(world):
    now = timezone.now()
    Lease.objects.filter(pk=world.lease_a.pk).update(starts_at=now - timedelta(days=70))
    at = now - timedelta(days=65)
    event = {"event_key": "old", "kind": "training_run", "quantity": 2, "occurred_at": at.isoformat()}
    response = bearer_client(world.secret_a).post(
        f"/api/v1/leases/{world.lease_a.pk}/usage/", {"events": [event]}, format="json"
    )
    assert response.status_code == 202
    assert _partition_of("old") == partitions.partition_name(*partitions.month_of(at))


def test_rows_in_the_default_partition_move_into_their_new_month_partition(world):
    at = datetime(2001, 2, 3, tzinfo=UTC)
    UsageEvent.objects.create(
        lease=world.lease_a, event_key="stray", kind="download", quantity=1, occurred_at=at, source="gateway"
    )
    assert _partition_of("stray") == partitions.DEFAULT
    assert partitions.ensure_usage_partitions([(2001, 2)]) == ["licensing_usageevent_y2001m02"]
    assert _partition_of("stray") == "licensing_usageevent_y2001m02"
    assert UsageEvent.objects.filter(lease=world.lease_a, occurred_at=at).count() == 1
    assert partitions.ensure_usage_partitions([(2001, 2)]) == []  # made once


def test_the_daily_task_makes_this_month_and_the_next_two(world):
    make_usage_partitions.delay().get()
    year, month = partitions.month_of(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [partitions.PARENT],
        )
        names = {row[0] for row in cursor.fetchall()}
    ahead = [(year + (month + n - 1) // 12, (month + n - 1) % 12 + 1) for n in range(3)]
    assert {partitions.partition_name(y, m) for y, m in ahead} <= names


def test_a_period_reads_the_month_partitions_it_overlaps_and_the_default_one(world):
    partitions.ensure_usage_partitions([(2002, 1), (2002, 2), (2002, 3)])
    january, march = datetime(2002, 1, 15, tzinfo=UTC), datetime(2002, 3, 1, tzinfo=UTC)
    assert partitions.partitions_holding(january, march) == [
        partitions.DEFAULT,
        "licensing_usageevent_y2002m01",
        "licensing_usageevent_y2002m02",
    ]
