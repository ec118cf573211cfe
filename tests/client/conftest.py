"""The puller against the real stack: gunicorn on the suite's PostgreSQL, Redis and S3 server,
and a lease of real objects in S3. The rows are committed per test (gunicorn must see them);
the objects are put once per module."""

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import UsageEvent
from tests.conftest import S3_BUCKET, stack_env
from tests.factories import grant_all
from tests.servers import ROOT, GunicornServer
from trust import services as trust
from trust.models import Asset, AssetContributor, DatasetVersion, DatasetVersionItem

# Presigned URLs of the server under test live this long: short, so a test can outwait one.
URL_SECONDS = 3
ASSETS = 200
MEDIA = ["image/png", "audio/wav", "video/mp4", "application/octet-stream"]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(item.fspath).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


def _bytes_of(n: int) -> bytes:
    """Asset n's content: 8 to 72 KiB, different for every n."""
    seed = hashlib.sha256(f"asset {n}".encode()).digest()
    return seed * (256 * (1 + n % 9))


@dataclass
class StoredObject:
    key: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@pytest.fixture(scope="module")
def stored_objects(s3_server) -> list[StoredObject]:
    client = s3_server.client()
    objects = [StoredObject(f"puller/{n}", _bytes_of(n)) for n in range(ASSETS)]
    for stored in objects:
        client.put_object(Bucket=S3_BUCKET, Key=stored.key, Body=stored.data)
    return objects


@pytest.fixture(scope="module")
def server(django_db_setup, s3_server):
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the puller's tests run on the real stack (PostgreSQL)")
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("the live server needs REDIS_URL")
    env = stack_env(redis_url=redis_url, s3_server=s3_server) | {
        "HTTPS": "off",
        "DEBUG": "false",
        "S3_REGION": "us-east-1",
        "DOWNLOAD_URL_SECONDS": str(URL_SECONDS),
    }
    with GunicornServer(env, workers=3, log_name="puller-gunicorn.log") as web:
        yield web


@dataclass
class PulledLease:
    lease: object
    token: object
    secret: str
    objects: list  # StoredObject per asset, in the order of `asset_ids`
    asset_ids: list
    url: str

    def billed(self) -> int:
        return UsageEvent.objects.filter(lease=self.lease, kind=UsageEvent.Kind.DOWNLOAD).count()

    def billed_per_asset(self) -> dict:
        rows = UsageEvent.objects.filter(lease=self.lease, kind=UsageEvent.Kind.DOWNLOAD)
        counts: dict = {}
        for asset_id in rows.values_list("asset_id", flat=True):
            counts[str(asset_id)] = counts.get(str(asset_id), 0) + 1
        return counts


def make_lease(cast, objects, *, url: str, download_cap: int | None = None) -> PulledLease:
    """An active lease of one version holding every stored object (the first is Bob's, the rest
    Alice's), with a lease token. Titles repeat on purpose: names must still be unique."""
    grant_all(cast.alice, "training")
    grant_all(cast.bob, "training")
    dataset = trust.dataset_create(actor=cast.admin, slug="puller", title="Puller")
    version = DatasetVersion.objects.create(
        dataset=dataset, number=1, manifest_sha256="0" * 64, created_by=cast.admin
    )
    assets = Asset.objects.bulk_create(
        Asset(
            kind="voice_sample" if n % 2 else "face_scan",
            title=f"Take {n % 150}: Zoë's “scene”",
            content_type=MEDIA[n % len(MEDIA)],
            size=len(stored.data),
            sha256=stored.sha256,
            object_key=stored.key,
            status=Asset.Status.AVAILABLE,
            created_by=cast.admin,
        )
        for n, stored in enumerate(objects)
    )
    AssetContributor.objects.bulk_create(
        AssetContributor(asset=asset, member=cast.bob if n == 0 else cast.alice, share=1, status="accepted")
        for n, asset in enumerate(assets)
    )
    DatasetVersionItem.objects.bulk_create(
        DatasetVersionItem(version=version, asset=asset, sha256=asset.sha256, size=asset.size)
        for asset in assets
    )
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=dataset,
        title="Puller",
        permitted_uses=["training"],
        duration_days=30,
        price_per_download_cents=1,
        download_cap=download_cap,
    )
    request = licensing.lease_request(actor=cast.carol, terms=terms, purpose="puller tests")
    lease = licensing.lease_approve(actor=cast.admin, lease=request)
    token, secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease, name="puller")
    return PulledLease(lease, token, secret, list(objects), [a.pk for a in assets], url)


@pytest.fixture
def pulled_lease(committed_cast, stored_objects, server) -> PulledLease:
    return make_lease(committed_cast, stored_objects, url=server.url)


def puller(*args: str, secret: str, env_extra: dict | None = None, **popen) -> subprocess.Popen:
    """`guildtrust ARGS` as a process of its own, the token in its environment only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GUILDTRUST_")}
    env |= {"GUILDTRUST_TOKEN": secret, "PYTHONUNBUFFERED": "1"} | (env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "guildtrust", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
