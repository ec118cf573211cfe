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
