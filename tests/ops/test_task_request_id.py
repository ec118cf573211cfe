"""A request's id reaches the Celery worker that runs the task it enqueued: the worker's JSON
log lines for that task carry it. Real stack: Redis, the S3 server and a worker process."""

import hashlib
import json
import time

import pytest
import requests
from rest_framework.test import APIClient

from trust.models import Asset

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_logs_the_task_with_the_request_id_that_enqueued_it(
    committed_cast, s3_settings, celery_worker
):
    admin = APIClient()
    admin.force_authenticate(committed_cast.admin)
    data = b"request id travels " * 100
    body = admin.post(
        "/api/v1/assets/",
        {
            "kind": "face_scan",
            "title": "traced",
            "content_type": "application/octet-stream",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "contributors": [{"member": committed_cast.alice.pk, "share": "1"}],
        },
        format="json",
    ).json()
    upload = body["upload"]
    assert requests.put(upload["url"], data=data, headers=upload["headers"], timeout=30).status_code == 200
    complete = admin.post(f"/api/v1/assets/{body['id']}/complete/", HTTP_X_REQUEST_ID="req-worker-7")
    assert complete.status_code == 202 and complete["X-Request-ID"] == "req-worker-7"

    deadline = time.monotonic() + 30
    while Asset.objects.get(pk=body["id"]).status == Asset.Status.VERIFYING:
        assert time.monotonic() < deadline, "the worker did not verify the upload"
        time.sleep(0.2)
    assert Asset.objects.get(pk=body["id"]).status == Asset.Status.AVAILABLE

    # The task logs after its verification commits: the line may trail the status by a moment.
    while not (checked := _checked_lines(celery_worker.log_path, body["id"])):
        assert time.monotonic() < deadline, "the worker logged no 'asset checked' line"
        time.sleep(0.2)
    assert len(checked) == 1
    assert checked[0]["request_id"] == "req-worker-7" and checked[0]["task_id"]


def _checked_lines(log_path, asset_id: str) -> list[dict]:
    lines = []
    for raw in log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return [line for line in lines if line.get("event") == "asset checked" and line.get("asset") == asset_id]
