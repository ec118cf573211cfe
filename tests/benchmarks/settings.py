"""The app's own settings plus the bare baseline views, for the gunicorn the benchmarks start."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.benchmarks.urls"
