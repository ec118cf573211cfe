#!/usr/bin/env bash
# The one scheduler (run exactly one): its schedule lives in the database (django-celery-beat).
# Needs the web's environment, SECRET_KEY included (the settings refuse to start without it).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/celery -A config beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler
