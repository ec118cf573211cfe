"""The download and the manifest stay a few indexed statements whatever the volume: no query
per asset, per event or per period."""

import pytest

from licensing.models import Lease, LeaseDownloadCount
from tests.conftest import bearer_client, json_body

pytestmark = pytest.mark.django_db


def _download_url(world, asset) -> str:
    return f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/"


def test_a_capped_download_is_a_handful_of_statements(world, django_assert_max_num_queries):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=100)
    client = bearer_client(world.secret_a)
    # The first writes the token's last use and the counter.
    assert client.get(_download_url(world, world.alice_asset)).status_code == 302
    # The token with its lease; then asset, pull window, period guard, cap and event in one statement.
    with django_assert_max_num_queries(2) as captured:
        assert client.get(_download_url(world, world.bob_asset)).status_code == 302
    assert "INSERT INTO" in captured.captured_queries[-1]["sql"]
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 2


def test_a_refresh_inside_the_pull_window_is_as_few_statements_and_takes_no_cap(
    world, django_assert_max_num_queries
):
    Lease.objects.filter(pk=world.lease_a.pk).update(download_cap=100)
    client = bearer_client(world.secret_a)
    url = _download_url(world, world.alice_asset)
    assert client.get(url).status_code == 302
    with django_assert_max_num_queries(2):
        assert client.get(url).status_code == 302
    assert LeaseDownloadCount.objects.get(lease_id=world.lease_a.pk).used == 1


def test_the_manifest_reads_its_rows_in_one_statement(world, django_assert_max_num_queries):
    """Token, version, dataset, and one statement for every row."""
    client = bearer_client(world.secret_a)
    url = f"/api/v1/leases/{world.lease_a.pk}/manifest/"
    client.get(url)
    with django_assert_max_num_queries(4):
        manifest = json_body(client.get(url))
    assert len(manifest["assets"]) == 2


def test_the_gateways_statements_are_prepared_on_the_server(world, settings):
    """After a few downloads on one connection, PostgreSQL runs the token's and the download's
    statements from their prepared plans (parsing and planning them cost more than running)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    settings.PULL_WINDOW_SECONDS = 0
    client = bearer_client(world.secret_a)
    for _ in range(8):
        assert client.get(_download_url(world, world.alice_asset)).status_code == 302
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE generic_plans + custom_plans > 1")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("token_hash" in sql for sql in prepared), prepared
    assert any("INSERT INTO" in sql and "usageevent" in sql for sql in prepared), prepared
