"""The manifest and the gateway's downloads carry each asset's title and media type, and a
download is saved under a filename made from its title."""

from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.conftest import bearer_client, json_body
from trust.models import Asset
from trust.storage import download_filename

pytestmark = pytest.mark.django_db


@pytest.fixture
def titled(world):
    Asset.objects.filter(pk=world.alice_asset.pk).update(
        title="Alice — face scan, take 2", content_type="image/png"
    )
    return world


def _download(world, asset):
    return bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/")


def test_the_manifest_lists_each_assets_title_and_media_type(titled):
    manifest = json_body(bearer_client(titled.secret_a).get(f"/api/v1/leases/{titled.lease_a.pk}/manifest/"))
    by_id = {row["id"]: row for row in manifest["assets"]}
    alice = by_id[str(titled.alice_asset.pk)]
    assert (alice["title"], alice["content_type"]) == ("Alice — face scan, take 2", "image/png")
    assert by_id[str(titled.bob_asset.pk)]["content_type"] == "application/octet-stream"


def test_an_s3_download_answers_with_the_filename_and_media_type(titled, s3_settings):
    from trust.storage import get_object_store

    get_object_store().put_bytes(titled.alice_asset.object_key, b"alice scan", content_type="image/png")
    location = _download(titled, titled.alice_asset)["Location"]
    query = parse_qs(urlparse(location).query)
    assert query["response-content-disposition"] == ['attachment; filename="alice-face-scan-take-2.png"']
    response = requests.get(location, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert "alice-face-scan-take-2.png" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("title", "content_type", "expected"),
    [
        ("Mara, face 1", "image/png", "mara-face-1.png"),
        ("Crowd walk", "video/mp4", "crowd-walk.mp4"),
        ("Line reading", "audio/wav", "line-reading.wav"),
        ("Scene 4", "text/plain; charset=utf-8", "scene-4.txt"),
        ("Scan", "application/x-unknown-thing", "scan.bin"),
        ('"; rm -rf /', "image/jpeg", "rm-rf.jpg"),
        ("Жанна", "image/png", "fallback-id.png"),
    ],
)
def test_download_filenames_are_safe_slugs_with_the_media_types_extension(title, content_type, expected):
    assert download_filename(title=title, content_type=content_type, fallback="fallback-id") == expected
