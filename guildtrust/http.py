"""One connection to a trust: the lease token on every call to the trust (never on the object
store's presigned URLs, which carry their own signature), and retries with backoff on what is
worth retrying: connection errors, 5xx, and 429 after its Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter

from . import __version__
from .errors import QuotaExceeded, Unavailable, refusal

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
# Statuses that say "try again later"; anything else in 4xx is an answer.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def retry_after_seconds(response: requests.Response) -> float | None:
    """The wait a 429 or 503 asks for: seconds, or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Backoff:
    """Exponential backoff with full jitter: attempt n waits up to base * 2^n, at most `cap`."""

    def __init__(self, *, retries: int = 6, base: float = 0.5, cap: float = 30.0, sleep=time.sleep):
        self.retries, self.base, self.cap, self.sleep = retries, base, cap, sleep

    def wait(self, attempt: int, asked: float | None = None) -> None:
        if asked is not None:
            self.sleep(min(asked, self.cap * 4))
        else:
            self.sleep(random.uniform(0, min(self.cap, self.base * 2**attempt)))


class Connection:
    """HTTP to one trust with one lease token. Thread-safe: `requests.Session` pools
    connections per host, sized for `jobs` threads."""

    def __init__(self, url: str, token: str, *, jobs: int = 8, backoff: Backoff | None = None):
        self.url = url.rstrip("/")
        self.token = token
        self.backoff = backoff or Backoff()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(jobs, 4) * 2)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"guildtrust-puller/{__version__}"

    def api(self, path: str) -> str:
        """An absolute URL: `path` under /api/v1/, or a URL the trust gave us, unchanged."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.url}/api/v1/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        url: str,
        *,
        authorized: bool = True,
        ok: Callable[[requests.Response], bool] = lambda r: r.status_code < 300,
        **kwargs,
    ) -> requests.Response:
        """`method url`, retried on transient failures. Answers the response `ok` accepts;
        raises the trust's refusal (errors.refusal) for any other 4xx, and Unavailable or
        QuotaExceeded when the retries are spent."""
        headers = dict(kwargs.pop("headers", None) or {})
        if authorized:
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, headers=headers, **kwargs)
            except TRANSIENT as error:
                if attempt >= self.backoff.retries:
                    raise Unavailable(f"{_where(url)} did not answer: {error}") from error
                self.backoff.wait(attempt)
                attempt += 1
                continue
            if ok(response):
                return response
            if response.status_code in RETRY_STATUSES and attempt < self.backoff.retries:
                asked = retry_after_seconds(response)
                response.close()
                self.backoff.wait(attempt, asked)
                attempt += 1
                continue
            raise self.error_of(response, url)

    @staticmethod
    def error_of(response: requests.Response, url: str) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = None
        finally:
            response.close()
        if response.status_code == 429:
            return QuotaExceeded(f"{_where(url)} kept answering 429 (too many requests)", status=429)
        if response.status_code >= 500:
            detail = body.get("detail") if isinstance(body, dict) else ""
            return Unavailable(
                f"{_where(url)} answered {response.status_code} after every retry {detail or ''}".strip(),
                status=response.status_code,
                code=(body or {}).get("code", "") if isinstance(body, dict) else "",
            )
        return refusal(response.status_code, body)

    def close(self) -> None:
        self.session.close()


def _where(url: str) -> str:
    return url.split("?", 1)[0]
