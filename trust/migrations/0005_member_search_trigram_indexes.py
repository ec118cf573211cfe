"""Trigram indexes for the members search (`icontains` over number, name, username and email,
which Django writes as UPPER(col::text) LIKE UPPER('%q%')): with 100k members a search reads
the index instead of every row. PostgreSQL only (pg_trgm, a trusted extension the database's
owner may create); the embedded SQLite default needs none."""

from django.db import migrations

COLUMNS = [
    ("trust_member", "member_number"),
    ("trust_member", "display_name"),
    ("auth_user", "username"),
    ("auth_user", "email"),
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
    dependencies = [("trust", "0004_contributors_must_accept"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create, drop)]
