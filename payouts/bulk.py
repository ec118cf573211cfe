"""Writing many rows at once: COPY on PostgreSQL (ids taken from the table's sequence in one
query, so rows that reference each other go in together), bulk_create on other databases."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def insert_rows(model: type[Model], fields: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    """Insert `rows` (tuples of values for `fields`, column names such as `lease_id`) and
    return their new ids in order."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=2000
        )
        return [obj.pk for obj in created]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(rows)]
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(connection.ops.quote_name(name) for name in ("id", *fields))
        with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row((pk, *row))
    return ids
