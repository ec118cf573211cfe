"""One exception handler: every error leaves as `{"code": ..., "detail": ...}`."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from trust.errors import DomainError, Unauthorized


class DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError):
        super().__init__(detail=error.detail, code=error.code)
        self.status_code = error.status


class TokenRefused(exceptions.AuthenticationFailed):
    """A 401 that keeps the domain's code (DRF adds the WWW-Authenticate header)."""


def as_api_exception(error: DomainError) -> exceptions.APIException:
    """For code that runs where DRF only catches APIException (authentication)."""
    if isinstance(error, Unauthorized):
        return TokenRefused(detail=error.detail, code=error.code)
    return DomainAPIException(error)


def _first_code(codes) -> str:
    while isinstance(codes, dict | list):
        if not codes:
            return "invalid"
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes)


def exception_handler(exc, context):
    # Imported here: authentication classes import this module while DRF's views load.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DomainError):
        exc = as_api_exception(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "the request is not valid; see errors",
            "errors": exc.detail,
        }
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = _first_code(exc.get_codes())
    if isinstance(exc, exceptions.NotAuthenticated):
        code = "not_authenticated"
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return Response(
        {"code": code, "detail": str(detail)},
        status=response.status_code,
        headers={k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")},
    )


def not_found(request, exception):
    """Django's 404 for an address no route matches (an id that is not a number, say): under
    /api/ it is the API's `{"code", "detail"}` like every other API error, elsewhere the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "nothing is at this address"}, status=404)
    return defaults.page_not_found(request, exception)


class MethodNotAllowedFirstMiddleware:
    """A method an API endpoint does not have is a 405 whoever asks: DRF would authenticate
    first, so a caller without rights learnt 401/403 for a method that does not exist at all."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is None or not request.path.startswith("/api/"):
            return None
        allowed = [m for m in view_class.http_method_names if hasattr(view_class, m)]
        if request.method.lower() in allowed:
            return None
        response = JsonResponse(
            {"code": "method_not_allowed", "detail": f'method "{request.method}" not allowed'}, status=405
        )
        response["Allow"] = ", ".join(m.upper() for m in allowed)
        return response
