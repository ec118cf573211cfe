"""Set-based test data for the benchmarks: a frozen version of `count` assets contributed by one
member who granted capture and training, loaded with INSERT ... SELECT generate_series (never a
row at a time through the ORM), then ANALYZE'd. The lease itself goes through the services."""

import time
from dataclasses import dataclass

from django.db import connection

from licensing import services as licensing
from licensing import tokens as lease_tokens
from tests.benchmarks.harness import analyze
from tests.factories import grant_all
from trust import services as trust
from trust.models import Asset, AssetContributor, DatasetVersion, DatasetVersionItem


@dataclass
class BigLease:
    lease: object
    secret: str
    asset_ids: list
    approve_s: float


def load_version(*, cast, count: int, slug: str = "bench") -> DatasetVersion:
    if not cast.alice.consents.filter(use="training").exists():
        grant_all(cast.alice, "training")
    dataset = trust.dataset_create(actor=cast.admin, slug=slug, title=slug)
    version = DatasetVersion.objects.create(
        dataset=dataset, number=1, manifest_sha256="0" * 64, created_by=cast.admin
    )
    asset, contributor, item = (m._meta.db_table for m in (Asset, AssetContributor, DatasetVersionItem))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {asset} (id, kind, title, content_type, size, sha256, object_key, status,
                    failure_reason, upload_id, created_by_id, created_at, verified_at)
                SELECT md5(%(slug)s || n)::uuid, 'face_scan', 'scan ' || n, 'image/png', n,
                       encode(sha256(n::text::bytea), 'hex'), 'assets/' || md5(%(slug)s || n)::uuid,
                       'available', '', '', %(admin)s, now(), now()
                FROM generate_series(1, %(count)s) AS n""",
            {"slug": slug, "admin": cast.admin.pk, "count": count},
        )
        cursor.execute(
            f"""INSERT INTO {contributor} (asset_id, member_id, share, status)
                SELECT md5(%(slug)s || n)::uuid, %(member)s, 1, 'accepted'
                FROM generate_series(1, %(count)s) AS n""",
            {"slug": slug, "member": cast.alice.pk, "count": count},
        )
        cursor.execute(
            f"""INSERT INTO {item} (version_id, asset_id, sha256, size)
                SELECT %(version)s, md5(%(slug)s || n)::uuid, encode(sha256(n::text::bytea), 'hex'), n
                FROM generate_series(1, %(count)s) AS n""",
            {"slug": slug, "version": version.pk, "count": count},
        )
    return version


def big_lease(
    *, cast, count: int, download_cap: int | None = None, slug: str = "bench", analyzed=True
) -> BigLease:
    """An active lease of `count` licensable assets with a token. `approve_s`: how long the
    approval took (on fresh statistics unless `analyzed` is false)."""
    version = load_version(cast=cast, count=count, slug=slug)
    if analyzed:
        analyze()
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=version.dataset,
        title=slug,
        permitted_uses=["training"],
        duration_days=30,
        price_per_download_cents=1,
        download_cap=download_cap,
    )
    request = licensing.lease_request(actor=cast.carol, terms=terms, purpose="bench")
    start = time.perf_counter()
    lease = licensing.lease_approve(actor=cast.admin, lease=request)
    approve_s = time.perf_counter() - start
    _, secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease, name="bench")
    asset_ids = list(version.items.order_by("asset_id").values_list("asset_id", flat=True)[:200])
    return BigLease(lease=lease, secret=secret, asset_ids=asset_ids, approve_s=approve_s)
