"""Probes: `/healthz` says the process answers (liveness: restart me if not), `/readyz` says
what it depends on answers too (readiness: send me traffic). Readiness checks only what this
configuration uses: the database always, Redis when REDIS_URL is set, S3 when S3_BUCKET is set
(the embedded default's local object directory otherwise). A failure is a 503 that names the
failed check; the error itself goes to the log, not to whoever asks."""

import structlog
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

log = structlog.get_logger("guildtrust.health")
REDIS_TIMEOUT_SECONDS = 2


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis():
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


def _object_store():
    from trust.storage import get_object_store

    get_object_store().check_reachable()


def checks() -> dict:
    """The checks this configuration needs, by the name a failure reports."""
    needed = {"database": _database}
    if settings.REDIS_URL:
        needed["redis"] = _redis
    needed["s3" if settings.S3_BUCKET else "object_store"] = _object_store
    return needed


def readyz(request):
    results = {}
    for name, check in checks().items():
        try:
            check()
        except Exception as error:  # any failure of a dependency means "not ready", never a 500
            log.warning("readiness check failed", check=name, error=type(error).__name__)
            results[name] = "failed"
        else:
            results[name] = "ok"
    failed = [name for name, result in results.items() if result != "ok"]
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed, "checks": results}, status=503)
    return JsonResponse({"status": "ok", "checks": results})
