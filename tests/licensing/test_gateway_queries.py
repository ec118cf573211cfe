"""The download and the manifest stay a few indexed statements whatever the volume: no query
per asset, per event or per period."""

import pytest

from licensing.models import Lease
from tests.conftest import bearer_client, json_body

pytestmark = pytest.mark.django_db


def test_a_capped_download_is_a_handful_of_statements(world, django_assert_max_num_queries):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=100)
    client = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    assert client.get(url).status_code == 302  # the first writes the token's last use and the counter
    # Token, asset, period guard, event, cap; and the savepoint around the last three.
    with django_assert_max_num_queries(7):
        assert client.get(url).status_code == 302


def test_the_manifest_reads_its_rows_in_one_statement(world, django_assert_max_num_queries):
    """Token, version, dataset, and one statement for every row."""
    client = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/manifest/"
    client.get(url)
    with django_assert_max_num_queries(4):
        manifest = json_body(client.get(url))
    assert len(manifest["assets"]) == 2
