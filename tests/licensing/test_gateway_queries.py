"""The download and the manifest stay a few indexed statements whatever the volume: no query
per asset, per event or per period."""

import pytest

from licensing.models import Lease, LeaseDownloadCount
from tests.conftest import bearer_client, json_body

pytestmark = pytest.mark.django_db


def test_a_capped_download_is_a_handful_of_statements(world, django_assert_max_num_queries):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=100)
    client = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/"
    assert client.get(url).status_code == 302  # the first writes the token's last use and the counter
    # The token with its lease; then asset, period guard, cap and event in one statement.
    with django_assert_max_num_queries(2) as captured:
        assert client.get(url).status_code == 302
    assert "INSERT INTO" in captured.captured_queries[-1]["sql"]
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 2


def test_the_manifest_reads_its_rows_in_one_statement(world, django_assert_max_num_queries):
    """Token, version, dataset, and one statement for every row."""
    client = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/manifest/"
    client.get(url)
    with django_assert_max_num_queries(4):
        manifest = json_body(client.get(url))
    assert len(manifest["assets"]) == 2
