"""The destruction job as the beat schedule runs it: sent to the real Celery worker (Redis, the
suite's PostgreSQL and S3 server), which destroys a due asset and certifies it."""

import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

from config.celery import app
from tests.conftest import S3_BUCKET
from tests.factories import grant_all, make_asset
from trust import destruction
from trust.models import Asset, AssetDestruction

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_destroys_a_due_asset_on_s3(committed_cast, s3_settings, s3_server, celery_worker):
    alice = committed_cast.alice
    grant_all(alice)
    asset = make_asset(admin=committed_cast.admin, contributors=[(alice, "1")], data=b"worker scan")
    key = asset.object_key
    destruction.retention_set(actor=committed_cast.admin, periods={"face_scan": 1})
    Asset.objects.filter(pk=asset.pk).update(created_at=timezone.now() - timedelta(days=2))

    # As beat sends it: by name, to the broker (this process runs tasks eagerly; the worker not).
    app.send_task("trust.tasks.destroy_due_assets")

    deadline = time.monotonic() + 60
    while Asset.objects.get(pk=asset.pk).status != Asset.Status.DESTROYED:
        assert time.monotonic() < deadline, (
            "the worker did not destroy the asset:\n" + celery_worker.log_tail()
        )
        time.sleep(0.3)
    with pytest.raises(ClientError) as missing:
        s3_server.client().head_object(Bucket=S3_BUCKET, Key=key)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert AssetDestruction.objects.get(asset=asset).destroyed_at is not None
