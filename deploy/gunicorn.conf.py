"""gunicorn settings, from the environment. Sizing behind the defaults: deploy/SCALING.md."""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Sync workers: every request is short (downloads are redirects, uploads go straight to storage)
# and waits mostly on PostgreSQL, so 2 x cores + 1 keeps the cores busy while some workers wait.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
# Recycle a worker after this many requests (jittered) to bound slow memory growth.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 5000))
max_requests_jitter = max_requests // 10
timeout = 30
graceful_timeout = 20
keepalive = 5
# No gunicorn access log: the app writes one JSON line per request with its request id and the
# URL pattern's name (config/logs.py); gunicorn's would write raw paths, and a password reset's
# path carries its secret.
accesslog = None
errorlog = "-"
# Downloads are redirects and uploads go straight to storage: requests stay small and short.
limit_request_line = 8190

# Prometheus multiprocess mode: each worker counts into files here and /metrics adds them up.
# Set before any worker imports the app; emptied when the server starts, as the library asks.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="guildtrust-metrics-")

# Imported here, once, not in child_exit: that hook runs in a SIGCHLD handler, and a second
# worker exiting during the first import (a shutdown) broke it with a circular ImportError.
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server):
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
