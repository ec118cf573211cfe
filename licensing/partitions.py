"""Monthly partitions of usage_event on PostgreSQL (the embedded default keeps a plain table).

usage_event is partitioned by range of `occurred_at`, one partition per calendar month (UTC),
plus a default partition that takes a row no month partition holds yet, so no insert can fail
for want of one. Partitions are made ahead by a daily task and, for back-dated usage, by the
usage report itself; a month whose rows already sit in the default partition gets them moved
into its new partition. Period closes read one or two months, which PostgreSQL prunes to."""

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection, transaction

PARENT = "licensing_usageevent"
DEFAULT = f"{PARENT}_default"
# Months this process knows to have a partition: a partition is never dropped by the app.
_known: set[tuple[int, int]] = set()


def month_of(moment: datetime) -> tuple[int, int]:
    moment = moment.astimezone(UTC)
    return moment.year, moment.month


def _bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def partition_name(year: int, month: int) -> str:
    return f"{PARENT}_y{year:04d}m{month:02d}"


def ensure_usage_partitions(months: Iterable[tuple[int, int]]) -> list[str]:
    """Make the month partitions of `months` ((year, month) pairs) that do not exist yet, moving
    any of their rows out of the default partition. Returns the names made. Safe to run
    concurrently (an advisory lock serialises makers) and again (nothing to do)."""
    if connection.vendor != "postgresql":
        return []
    wanted = sorted(set(months) - _known)
    if not wanted:
        return []
    made = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [PARENT])
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        existing = {row[0] for row in cursor.fetchall()}
        for year, month in wanted:
            name = partition_name(year, month)
            if name not in existing:
                start, end = _bounds(year, month)
                like = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} {like})")
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s "
                    f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
                    [start, end],
                )
                cursor.execute(
                    f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end]
                )
                made.append(name)
    # Remembered only once the partitions are committed, or part of an outer transaction that
    # may yet roll back: then a later call looks again (the default partition covers meanwhile).
    transaction.on_commit(lambda: _known.update(wanted))
    return made


def ensure_partitions_ahead(*, now: datetime, months_ahead: int = 2) -> list[str]:
    """This month's partition and the next `months_ahead`, for the gateway's events."""
    year, month = month_of(now)
    months = []
    for _ in range(months_ahead + 1):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return ensure_usage_partitions(months)


def partitions_holding(start: datetime, end: datetime) -> list[str]:
    """The partitions that may hold usage that occurred in [start, end): the existing month
    partitions overlapping it, and the default partition (where a month made late has rows)."""
    if connection.vendor != "postgresql":
        return []
    months, (year, month) = [], month_of(start)
    while _bounds(year, month)[0] < end:
        months.append(partition_name(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass AND c.relname = ANY(%s) ORDER BY c.relname",
            [PARENT, [*months, DEFAULT]],
        )
        return [row[0] for row in cursor.fetchall()]


def vacuum_usage_of(start: datetime, end: datetime) -> list[str]:
    """VACUUM the partitions holding the usage of [start, end), so the pages written since the
    last vacuum are marked all-visible and the usage index answers reads of a lease range by
    itself (an index-only scan) instead of fetching every row from the table, where a lease's
    events lie scattered among every other lease's. Pages already all-visible are skipped, so
    on a partition autovacuum keeps up with this costs little. Does nothing inside a
    transaction, where PostgreSQL cannot vacuum. Returns the partitions vacuumed."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return []
    names = partitions_holding(start, end)
    with connection.cursor() as cursor:
        for name in names:
            # The name comes from the catalogue (a partition of PARENT), never from input.
            cursor.execute(f"VACUUM {name}")
    return names
