#!/usr/bin/env bash
# A Celery worker for both queues: `celery` (uploads, expiry) and `metering` (closing periods).
# Needs the web's environment, SECRET_KEY included (the settings refuse to start without it).
# Its pool processes count task metrics into PROMETHEUS_MULTIPROC_DIR: share the web's directory
# on one host (its /metrics then includes them), or set CELERY_METRICS_PORT to serve them here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$(mktemp -d -t guildtrust-worker-metrics-XXXX)}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec .venv/bin/celery -A config worker --loglevel=INFO --concurrency="${CELERY_CONCURRENCY:-2}" \
  --max-tasks-per-child="${CELERY_MAX_TASKS_PER_CHILD:-1000}" -Q celery,metering
