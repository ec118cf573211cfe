"""A trigram index for the lease lists' search of purposes (`icontains`, which Django writes as
UPPER(col::text) LIKE UPPER('%q%')): with 10k leases a search reads the index, not every row.
PostgreSQL only (pg_trgm, a trusted extension the database's owner may create); the embedded
SQLite default needs none."""

from django.db import migrations

COLUMNS = [
    ("licensing_lease", "purpose"),
]


def _index(table: str, column: str) -> str:
    return f"{table}_{column}_upper_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in COLUMNS:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{_index(table, column)}" ON "{table}" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in COLUMNS:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{_index(table, column)}"')


class Migration(migrations.Migration):
    dependencies = [("licensing", "0008_federated_token_revocations"), ("trust", "0005_member_search_trigram_indexes")]

    operations = [migrations.RunPython(create, drop)]
