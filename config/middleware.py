"""Middleware of the deployment: what every response carries and what no request may send."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from trust.errors import BodyTooLarge


def _too_large() -> JsonResponse:
    error = BodyTooLarge(
        f"the request body is larger than {settings.API_MAX_BODY_BYTES} bytes (API_MAX_BODY_BYTES)"
    )
    return JsonResponse({"code": error.code, "detail": error.detail}, status=error.status)


class BodySizeLimitMiddleware:
    """Refuses a body above API_MAX_BODY_BYTES with 413 `body_too_large` before anything reads
    it, from its Content-Length. A body without one (chunked) is read by Django only up to the
    same limit (DATA_UPLOAD_MAX_MEMORY_SIZE), and going past it is answered the same way here
    rather than as Django's 400 page. The embedded store's uploads stream to disk under their
    own limit, so they are not counted here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(settings.BODY_LIMIT_EXEMPT_PREFIXES):
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0  # Django reads no body at all without a valid length
            if declared > settings.API_MAX_BODY_BYTES:
                return _too_large()
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
