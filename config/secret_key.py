"""Where SECRET_KEY comes from. It signs sessions, password-reset links and the local object
store's URLs, so a key anyone can read lets anyone forge them: the code holds none.

On the embedded default a random key is generated into var/secret_key (mode 0600) on first run
and read back after; everywhere else it comes from the environment and must be strong."""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MIN_LENGTH = 50
MIN_DISTINCT_CHARACTERS = 5
# The key this code once shipped with for the embedded default: public, so never accepted.
PUBLISHED_KEYS = frozenset({"embedded-default-insecure-key-change-me-in-production"})

HOW_TO_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def weakness(key: str) -> str | None:
    """Why `key` is too weak to sign anything with, or None when it is strong enough."""
    if key in PUBLISHED_KEYS:
        return "it is a key published in Guildtrust's source"
    if key.startswith("django-insecure-"):
        return "it is one of Django's 'django-insecure-' development keys"
    if len(key) < MIN_LENGTH:
        return f"it is {len(key)} characters long, fewer than {MIN_LENGTH}"
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return f"it has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters"
    return None


def checked(key: str | None, *, source: str) -> str:
    """`key` when it is set and strong; ImproperlyConfigured naming `source` otherwise."""
    if not key:
        raise ImproperlyConfigured(
            f"{source} is not set. Outside the embedded default (DATABASE_URL is set) the app will "
            f"not start without a secret key of its own; make one with: {HOW_TO_MAKE_ONE}"
        )
    if reason := weakness(key):
        raise ImproperlyConfigured(
            f"{source} is too weak to sign sessions and URLs: {reason}. It needs at least "
            f"{MIN_LENGTH} characters of which {MIN_DISTINCT_CHARACTERS} distinct; make one with: "
            f"{HOW_TO_MAKE_ONE}"
        )
    return key


def embedded_key(path: Path) -> str:
    """The embedded default's key: read from `path`, or generated there (mode 0600) on first run.
    Two processes starting at once (runserver and its reloader) end up with the same key: the
    file appears whole or not at all, and the first one to link it wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(64) + "\n")
            # Another process that generated it first wins: use theirs.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            os.unlink(draft)
    return checked(path.read_text().strip(), source=f"the embedded default's key file {path}")
