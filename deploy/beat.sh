#!/usr/bin/env bash
# The one scheduler (run exactly one): its schedule lives in the database (django-celery-beat).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/celery -A config beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler
