"""gunicorn settings, from the environment."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 4)))
timeout = 30
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# Downloads are redirects and uploads go straight to storage: requests stay small and short.
limit_request_line = 8190
