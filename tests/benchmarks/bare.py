"""Bare Django views: the baselines each benchmark divides by, served by the same gunicorn."""

import uuid

from django.http import JsonResponse


def bare_ok(request):
    """The least a Django JSON view can do: what the gateway is compared with."""
    return JsonResponse({"ok": True})


def bare_manifest(request, count: int):
    """The same JSON a manifest of `count` assets is, built in memory from nothing."""
    rows = [
        {
            "id": str(uuid.UUID(int=n)),
            "kind": "face_scan",
            "title": f"scan {n}",
            "content_type": "image/png",
            "sha256": "0" * 64,
            "size": n,
            "download_url": f"http://127.0.0.1/api/v1/leases/1/assets/{uuid.UUID(int=n)}/download/",
        }
        for n in range(count)
    ]
    return JsonResponse(
        {"lease": 1, "dataset": "bench", "version": 1, "manifest_sha256": "0" * 64, "assets": rows}
    )


def bare_download_floor(request, lease_id: int, asset_id):
    """What no gateway download can skip, with nothing else: one usage event row written (one
    prepared INSERT, autocommit) and one presigned URL signed as the gateway signs it (the app's
    store, a filename and a media type), then the 302. The gateway's ratio can be no better than
    this view's."""
    from django.http import HttpResponseRedirect
    from django.utils import timezone

    from licensing.models import UsageEvent
    from trust.db import prepared_cursor
    from trust.storage import download_filename, get_object_store

    now = timezone.now()
    with prepared_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {UsageEvent._meta.db_table} (lease_id, event_key, kind, asset_id, quantity, "
            "occurred_at, recorded_at, source) VALUES (%s, %s, %s, %s, 1, %s, %s, %s)",
            [
                lease_id,
                f"floor:{uuid.uuid4()}",
                UsageEvent.Kind.DOWNLOAD.value,
                asset_id,
                now,
                now,
                UsageEvent.Source.GATEWAY.value,
            ],
        )
    filename = download_filename(title=f"scan {asset_id}", content_type="image/png", fallback=str(asset_id))
    url = get_object_store().presigned_get(
        f"assets/{asset_id}", expires_in=300, filename=filename, content_type="image/png"
    )
    return HttpResponseRedirect(url)
