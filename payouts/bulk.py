"""Writing many rows at once: COPY on PostgreSQL (ids taken from the table's sequence in one
query when the caller needs them, so rows that reference each other go in together),
bulk_create on other databases."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def insert_rows(
    model: type[Model], fields: Sequence[str], rows: Sequence[tuple], *, ids: bool = True
) -> list[int]:
    """Insert `rows` (tuples of values for `fields`, column names such as `lease_id`) and
    return their new ids in order; with `ids=False` the table's default numbers them and
    nothing is returned (one round trip fewer, no ids sent back and forth)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=2000
        )
        return [obj.pk for obj in created] if ids else []
    table = model._meta.db_table
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if not ids:
            columns = ", ".join(quote(name) for name in fields)
            with cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return []
        # The sequence is looked up once, not once per id.
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, len(rows)])
        new_ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(quote(name) for name in ("id", *fields))
        with cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(new_ids, rows, strict=True):
                copy.write_row((pk, *row))
    return new_ids


def bigint_array(values) -> str:
    """Integers as one PostgreSQL array literal, for a `%s::bigint[]` parameter. psycopg adapts
    a list item by item (1.8-3.3 ms for a batch's 1,560 account ids, against 0.4-0.6 ms as
    text); `int()` keeps anything but a number out of the literal."""
    return "{" + ",".join([str(int(value)) for value in values]) + "}"
