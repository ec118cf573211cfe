"""Trigram indexes for the members search over number, name, username and email: with 100k
members a search reads the index instead of every row (trust/trigram.py)."""

from django.db import migrations

from trust.trigram import upper_trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("trust", "0004_contributors_must_accept"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        upper_trigram_indexes(
            [
                ("trust_member", "member_number"),
                ("trust_member", "display_name"),
                ("auth_user", "username"),
                ("auth_user", "email"),
            ]
        )
    ]
