"""Settings loaded in a fresh process with an environment of the test's choosing: how a
deployment starts, which the test process itself (its settings already loaded) cannot show."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STRONG_KEY = "k7Qm2vXp9Lr4Tz8Wc1Nb6Hd3Fy5Js0Gu-Ae_Ki7Oo2Pq9Rs4Tv8Ux1Yz6Wb3Nd5Mf0Lh"


def production_env(**overrides) -> dict[str, str]:
    """What a production deployment sets, and nothing from the test run's own environment."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://guildtrust@127.0.0.1:1/guildtrust",  # never connected to
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "SECRET_KEY": STRONG_KEY,
        "TRUST_SIGNING_KEY": "5e" * 32,
        "ALLOWED_HOSTS": "guildtrust.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://guildtrust.example.org",
        "S3_BUCKET": "guildtrust",
        "S3_ACCESS_KEY_ID": "id",
        "S3_SECRET_ACCESS_KEY": "secret",
        "PUBLIC_BASE_URL": "https://guildtrust.example.org",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(["-c", "import django; django.setup()\n" + code], env)
