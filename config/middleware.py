"""Middleware of the deployment: what every response carries and what no request may send."""

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse

from trust.errors import BodyTooLarge


def _too_large() -> JsonResponse:
    error = BodyTooLarge(
        f"the request body is larger than {settings.API_MAX_BODY_BYTES} bytes (API_MAX_BODY_BYTES)"
    )
    return JsonResponse({"code": error.code, "detail": error.detail}, status=error.status)


class BodySizeLimitMiddleware:
    """Refuses a body above API_MAX_BODY_BYTES with 413 `body_too_large` before anything reads
    it, from its Content-Length. A chunked body (no length; gunicorn marks its end with
    `wsgi.input_terminated`) is read here up to one byte past the limit and refused the same way
    when longer, else handed on with its length now known. Whatever later reads past Django's own
    bound (DATA_UPLOAD_MAX_MEMORY_SIZE, the same number) gets this 413 too, not Django's 400 page.
    The embedded store's uploads stream to disk under their own limit, so they are not counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(settings.BODY_LIMIT_EXEMPT_PREFIXES):
            limit = settings.API_MAX_BODY_BYTES
            declared = request.META.get("CONTENT_LENGTH")
            if declared:
                if declared.isdigit() and int(declared) > limit:
                    return _too_large()
            elif request.META.get("wsgi.input_terminated"):
                body = request.META["wsgi.input"].read(limit + 1)
                if len(body) > limit:
                    return _too_large()
                # Django reads nothing of a body without a length; now it has one.
                request.META["CONTENT_LENGTH"] = str(len(body))
                request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return _too_large()
        return None


class PermissionsPolicyMiddleware:
    """Turns off the browser features no Guildtrust page uses (camera, microphone, location,
    ...), so nothing injected into a page could reach them either."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY_OFF)
        response.setdefault("Permissions-Policy", policy)
        return response
