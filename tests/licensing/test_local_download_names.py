"""A local download, fetched from the live server, is saved under its title with its media type,
and a swapped filename is refused. The live server reads from another connection, so this
module's world is committed per test (`committed_world`)."""

import pytest
import requests

from tests.conftest import bearer_client
from trust.models import Asset


@pytest.fixture
def titled(committed_world):
    Asset.objects.filter(pk=committed_world.alice_asset.pk).update(
        title="Alice — face scan, take 2", content_type="image/png"
    )
    return committed_world


def _download(world, asset):
    return bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/")


def test_a_local_download_is_saved_under_the_title_with_the_media_type(titled, settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    location = _download(titled, titled.alice_asset)["Location"]
    response = requests.get(location, timeout=10)
    assert response.status_code == 200
    assert response.content == b"alice scan"
    assert response.headers["Content-Type"] == "image/png"
    assert 'filename="alice-face-scan-take-2.png"' in response.headers["Content-Disposition"]


def test_a_local_download_refuses_a_swapped_filename(titled, settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    location = _download(titled, titled.alice_asset)["Location"]
    forged = location.replace("alice-face-scan-take-2.png", "invoice.exe")
    assert forged != location
    assert requests.get(forged, timeout=10).status_code == 403
