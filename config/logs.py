"""Structured logs: one JSON object per line (structlog), each carrying the request id of the
request or Celery task that wrote it.

The request id comes from the caller's X-Request-ID when it is a sane one (a proxy's or a
client's, so a request can be followed across systems), else a new one; it is echoed in the
response, bound to every log line written while the request runs, and handed to every Celery
task the request enqueues (a task message header), whose log lines carry it too.

No secret reaches a log: request lines name the URL pattern, never the raw path or headers,
and a last processor masks anything shaped like one of our tokens (`ut_`, `lt_`) wherever it
appears, so a careless `logger.info("%s", token)` still writes no usable secret."""

import re
import time
import uuid

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, get_contextvars, reset_contextvars

HEADER = "X-Request-ID"
TASK_HEADER = "guildtrust_request_id"
# What we accept from outside: short, and only characters that cannot forge a log line.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Our token secrets: a kind prefix and urlsafe base64 (trust/tokens.py). Masked wherever they appear.
TOKEN_SHAPE = re.compile(r"\b(ut|lt)_[A-Za-z0-9_-]{8,}")

request_log = structlog.get_logger("guildtrust.request")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(value: str | None) -> str:
    """The caller's request id if it is a sane one, else a new one."""
    if value and SANE_REQUEST_ID.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return get_contextvars().get("request_id")


def _mask(value):
    if isinstance(value, str):
        return TOKEN_SHAPE.sub(lambda m: f"{m.group(1)}_[redacted]", value)
    return value


def mask_secrets(_logger, _name, event_dict: dict) -> dict:
    """The last line of defence: no token-shaped string leaves in any field."""
    return {key: _mask(value) for key, value in event_dict.items()}


# Applied to our structlog lines and to lines from the standard library (Django, Celery, boto).
SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(level: str) -> dict:
    """The LOGGING setting: every record, ours or a library's, leaves as one JSON line on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": SHARED_PROCESSORS,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    mask_secrets,
                    structlog.processors.JSONRenderer(),
                ],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": level},
        # Request lines come from our middleware (by URL pattern, with the request id).
        "loggers": {"django.server": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
    }


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class RequestIdMiddleware:
    """Binds the request id for the request's log lines, echoes it, and logs one line per
    request: view (the URL pattern's name), method, status and milliseconds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(HEADER))
        request.request_id = request_id
        start = time.perf_counter()
        with bound_contextvars(request_id=request_id):
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            request_log.info(
                "request",
                view=(match.view_name or match.route) if match else "unresolved",
                method=request.method,
                status=response.status_code,
                ms=round((time.perf_counter() - start) * 1000, 1),
            )
        response[HEADER] = request_id
        return response


# --- Celery: the request id travels in the task message's headers ---------------------------


def configure_worker_logging(**_):
    """setup_logging: a worker and beat log as the web does (JSON lines), not in Celery's format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def add_request_id_header(headers=None, **_):
    """before_task_publish: the enqueuing request's (or task's) id goes with the message."""
    request_id = current_request_id()
    if request_id and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


def bind_task_request_id(task=None, task_id=None, **_):
    """task_prerun: the task's log lines carry the id that enqueued it (a new one if none did:
    beat's tasks), and the task id."""
    request = getattr(task, "request", None)
    headers = getattr(request, "headers", None) or {}
    carried = getattr(request, TASK_HEADER, None) or headers.get(TASK_HEADER)
    if carried is None and getattr(request, "is_eager", False):
        carried = current_request_id()  # run in-process: the caller's id is already bound
    _bound[task_id] = bind_contextvars(request_id=request_id_from(carried), task_id=task_id)


def unbind_task_request_id(task_id=None, **_):
    """task_postrun: back to what was bound before (an eager task runs inside its request)."""
    tokens = _bound.pop(task_id, None)
    if tokens:
        reset_contextvars(**tokens)


_bound: dict[str, dict] = {}
