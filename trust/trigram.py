"""Trigram indexes for the lists' search (trust/lists.py): `icontains`, which Django writes as
UPPER(col::text) LIKE UPPER('%q%'), reads a GIN index of UPPER(col) instead of every row.
PostgreSQL only (pg_trgm, a trusted extension the database's owner may create); the embedded
SQLite default needs none. Migrations add them with `upper_trigram_indexes`."""

from collections.abc import Sequence

from django.db import migrations


def _index(table: str, column: str) -> str:
    return f"{table}_{column}_upper_trgm"


def upper_trigram_indexes(columns: Sequence[tuple[str, str]]) -> migrations.RunPython:
    """A migration operation creating (and, reversed, dropping) one index per (table, column)."""

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, column in columns:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{_index(table, column)}" ON "{table}" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column in columns:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{_index(table, column)}"')

    return migrations.RunPython(create, drop)
