"""Gateway and manifest figures, each printed with its ratio to a bare Django view measured in
the same run, so noise on a shared machine cancels. Run with `make bench`."""

import hashlib
import time
import uuid

import pytest
from django.http import JsonResponse
from django.test import Client
from django.urls import path

from licensing import services as licensing
from licensing import tokens as lease_tokens
from tests.factories import grant_all
from trust import services as trust
from trust.models import Asset, AssetContributor, DatasetItem

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db]
MANIFEST_ASSETS = 5_000
DOWNLOADS = 300


def bare_ok(request):
    return JsonResponse({"ok": True})


def bare_list(request):
    rows = [
        {
            "id": str(uuid.UUID(int=n)),
            "kind": "face_scan",
            "sha256": "0" * 64,
            "size": n,
            "download_url": f"http://testserver/x/{n}/download/",
        }
        for n in range(MANIFEST_ASSETS)
    ]
    return JsonResponse({"assets": rows})


urlpatterns = [path("bare/ok/", bare_ok), path("bare/list/", bare_list)]


def _per_call(client, url, count, **headers):
    start = time.perf_counter()
    for _ in range(count):
        response = client.get(url, **headers)
        assert response.status_code in (200, 302), response.content[:200]
    return (time.perf_counter() - start) / count


@pytest.fixture
def big_lease(cast, settings):
    settings.ROOT_URLCONF = "tests.benchmarks.urls"
    grant_all(cast.alice, "training")
    assets = [
        Asset(
            kind="face_scan",
            title=f"scan {n}",
            content_type="application/octet-stream",
            size=n,
            sha256=hashlib.sha256(str(n).encode()).hexdigest(),
            object_key=f"assets/bench-{n}",
            status=Asset.Status.AVAILABLE,
            created_by=cast.admin,
        )
        for n in range(MANIFEST_ASSETS)
    ]
    Asset.objects.bulk_create(assets, batch_size=1000)
    AssetContributor.objects.bulk_create(
        [
            AssetContributor(asset=a, member=cast.alice, share=1, status=AssetContributor.Status.ACCEPTED)
            for a in assets
        ],
        batch_size=1000,
    )
    dataset = trust.dataset_create(actor=cast.admin, slug="bench", title="Bench")
    DatasetItem.objects.bulk_create([DatasetItem(dataset=dataset, asset=a) for a in assets], batch_size=1000)
    trust.dataset_freeze(actor=cast.admin, dataset=dataset)
    terms = licensing.terms_create(
        actor=cast.admin, dataset=dataset, title="t", permitted_uses=["training"], duration_days=30
    )
    lease = licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="bench")
    )
    _, secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease, name="bench")
    return lease, secret, assets[0]


def test_manifest_and_gateway_against_a_bare_view(big_lease):
    lease, secret, asset = big_lease
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    bare_list_s = _per_call(client, "/bare/list/", 5)
    manifest_s = _per_call(client, f"/api/v1/leases/{lease.pk}/manifest/", 5, **auth)
    bare_ok_s = _per_call(client, "/bare/ok/", DOWNLOADS)
    download_s = _per_call(
        client, f"/api/v1/leases/{lease.pk}/assets/{asset.pk}/download/", DOWNLOADS, **auth
    )
    print(
        f"\nmanifest of {MANIFEST_ASSETS} assets: {manifest_s * 1000:.1f} ms "
        f"(bare view, same JSON: {bare_list_s * 1000:.1f} ms, ratio {manifest_s / bare_list_s:.1f}x)"
    )
    print(
        f"gateway download (token, consent check, usage event, presign): {download_s * 1000:.2f} ms "
        f"(bare view: {bare_ok_s * 1000:.2f} ms, ratio {download_s / bare_ok_s:.1f}x)"
    )
