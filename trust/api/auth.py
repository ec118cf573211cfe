from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from trust import services
from trust.errors import Unauthorized

from .errors import as_api_exception


def bearer_secret(request) -> str | None:
    """The secret of an `Authorization: Bearer ...` header, or None without one."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise as_api_exception(Unauthorized("malformed Authorization header", code="token_invalid"))
    return parts[1].decode("latin-1")


class UserTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer ut_...` for people; lease tokens (`lt_`) are left to licensing."""

    def authenticate(self, request):
        secret = bearer_secret(request)
        if secret is None or secret.startswith("lt_"):
            return None
        if not secret.startswith("ut_"):
            raise as_api_exception(Unauthorized("unknown token", code="token_invalid"))
        try:
            token = services.user_token_authenticate(secret)
        except Unauthorized as error:
            raise as_api_exception(error) from error
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="guildtrust"'


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "trust.api.auth.UserTokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": f"`ut_` token from POST /api/v1/auth/token/, valid "
            f"{settings.USER_TOKEN_LIFETIME_HOURS} hours",
        }
