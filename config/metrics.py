"""Prometheus metrics, served at /metrics to a scraper holding METRICS_TOKEN.

Under gunicorn (and Celery's prefork pool) each process counts into files under
PROMETHEUS_MULTIPROC_DIR and a scrape adds them up (prometheus-client's multiprocess mode);
without that variable the process's own registry is served. Counters and histograms only: a
gauge is ambiguous across processes, so what is a level (period close progress) is read from
the database at scrape time, where every worker's progress already is."""

import hmac
import os
import time

# The multiprocess directory must exist before the first metric is made (a worker's container
# may start with an empty /tmp).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from django.conf import settings  # noqa: E402
from django.db import DatabaseError  # noqa: E402
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

# Request latency buckets, in seconds: the goals are p95 <= 100-200 ms for pages.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

HTTP_REQUESTS = Counter(
    "guildtrust_http_requests",
    "HTTP requests answered, by view, method and status",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "guildtrust_http_request_duration_seconds",
    "Time to answer a request, by view and method",
    ["view", "method"],
    buckets=LATENCY_BUCKETS,
)
GATEWAY_DOWNLOADS = Counter(
    "guildtrust_gateway_downloads", "Downloads the gateway authorised (302 to storage)"
)
GATEWAY_REFUSALS = Counter(
    "guildtrust_gateway_refusals", "Downloads the gateway refused, by the error's code", ["reason"]
)
USAGE_EVENTS = Counter(
    "guildtrust_usage_events_ingested", "Usage events recorded, by source (report, gateway)", ["source"]
)
USAGE_DUPLICATES = Counter("guildtrust_usage_events_duplicate", "Reported usage events already known by key")
TASK_DURATION = Histogram(
    "guildtrust_celery_task_duration_seconds",
    "Celery task run time, by task and outcome",
    ["task", "state"],
    buckets=TASK_BUCKETS,
)
TASK_FAILURES = Counter("guildtrust_celery_task_failures", "Celery tasks that raised, by task", ["task"])
PERIOD_CLOSE_BATCHES = Counter(
    "guildtrust_period_close_batches_posted", "Lease batches a period close has posted (or found posted)"
)


def gateway_download_served() -> None:
    GATEWAY_DOWNLOADS.inc()
    USAGE_EVENTS.labels(source="gateway").inc()


def gateway_download_refused(code: str) -> None:
    GATEWAY_REFUSALS.labels(reason=code).inc()


def usage_reported(*, accepted: int, duplicates: int) -> None:
    USAGE_EVENTS.labels(source="report").inc(accepted)
    USAGE_DUPLICATES.inc(duplicates)


def period_close_batch_done() -> None:
    PERIOD_CLOSE_BATCHES.inc()


class PeriodCloseProgress:
    """Leases done and to do of every period being closed (or failed half-way), read from the
    periods table at scrape time: one small query, true whichever worker runs the close."""

    def collect(self):
        from payouts.models import Period  # here: collectors are built before apps load

        done = GaugeMetricFamily(
            "guildtrust_period_close_leases_done", "Leases distributed so far by a close", labels=["period"]
        )
        total = GaugeMetricFamily(
            "guildtrust_period_close_leases_total", "Leases a close has to distribute", labels=["period"]
        )
        try:
            rows = list(
                Period.objects.filter(status__in=[Period.Status.CLOSING, Period.Status.FAILED]).values_list(
                    "pk", "leases_done", "leases_total"
                )
            )
        except DatabaseError:  # the database being down must not take the other metrics with it
            rows = []
        for pk, leases_done, leases_total in rows:
            done.add_metric([str(pk)], leases_done)
            total.add_metric([str(pk)], leases_total)
        yield done
        yield total


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's counters (multiprocess mode) or this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape = CollectorRegistry()
        scrape.register(_ProcessRegistry())
    scrape.register(PeriodCloseProgress())
    return scrape


class _ProcessRegistry:
    """The default registry as one collector, so it can sit beside PeriodCloseProgress."""

    def collect(self):
        yield from REGISTRY.collect()


def _authorised(request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), settings.METRICS_TOKEN.encode()
    )


def metrics_view(request):
    """The Prometheus exposition. No METRICS_TOKEN set: metrics are off (404). A missing or
    wrong bearer token: 401."""
    if not settings.METRICS_TOKEN:
        return JsonResponse({"code": "not_found", "detail": "metrics are not enabled"}, status=404)
    if not _authorised(request):
        response = JsonResponse(
            {"code": "not_authenticated", "detail": "send Authorization: Bearer <METRICS_TOKEN>"}, status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Counts and times every request by the view that answered it (the URL pattern's name,
    never the raw path: paths carry ids and, for password resets, secrets)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else "unresolved"
        HTTP_LATENCY.labels(view=view, method=request.method).observe(time.perf_counter() - start)
        HTTP_REQUESTS.labels(view=view, method=request.method, status=str(response.status_code)).inc()
        return response


# --- Celery: task durations and failures (connected in config.celery) -----------------------

_started: dict[str, float] = {}


def task_started(task_id=None, **_):
    _started[task_id] = time.perf_counter()


def task_finished(task_id=None, task=None, state=None, **_):
    start = _started.pop(task_id, None)
    if start is not None and task is not None:
        TASK_DURATION.labels(task=task.name, state=state or "UNKNOWN").observe(time.perf_counter() - start)


def task_failed(sender=None, **_):
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


def worker_process_exited(pid=None, **_):
    """A Celery pool process (or gunicorn worker) ended: fold its live values away."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


def serve_worker_metrics(**_):
    """On a host of its own, a Celery worker serves its pool's metrics on CELERY_METRICS_PORT
    (bound to CELERY_METRICS_ADDR, 127.0.0.1 unless set: expose it only through a network policy)."""
    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    from prometheus_client import start_http_server

    start_http_server(int(port), addr=os.environ.get("CELERY_METRICS_ADDR", "127.0.0.1"), registry=registry())
