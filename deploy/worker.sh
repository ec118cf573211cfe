#!/usr/bin/env bash
# A Celery worker for both queues: `celery` (uploads, expiry) and `metering` (closing periods).
# Needs the web's environment, SECRET_KEY included (the settings refuse to start without it).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/celery -A config worker --loglevel=INFO --concurrency="${CELERY_CONCURRENCY:-2}" -Q celery,metering
