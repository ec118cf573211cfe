"""One exception handler: every error leaves as `{"code": ..., "detail": ...}`."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
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
