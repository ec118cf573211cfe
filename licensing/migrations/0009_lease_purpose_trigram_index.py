"""A trigram index for the lease lists' search of purposes: with 10k leases a search reads the
index, not every row (trust/trigram.py)."""

from django.db import migrations

from trust.trigram import upper_trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("licensing", "0008_federated_token_revocations"), ("trust", "0005_member_search_trigram_indexes")]

    operations = [upper_trigram_indexes([("licensing_lease", "purpose")])]
