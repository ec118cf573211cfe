from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from trust import tokens
from trust.errors import Forbidden, Unauthorized
from trust.tokens import TokenKind

from .errors import as_api_exception


def bearer_secret(request) -> tuple[TokenKind, str] | None:
    """The kind and secret of an `Authorization: Bearer ...` header, or None without one;
    a malformed header or an unknown kind of token is refused (401)."""
    try:
        secret = tokens.parse_authorization(get_authorization_header(request))
        return None if secret is None else (tokens.kind_of(secret), secret)
    except Unauthorized as error:
        raise as_api_exception(error) from error


class UserTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer ut_...` for people; lease tokens (`lt_`) are left to licensing."""

    def authenticate(self, request):
        bearer = bearer_secret(request)
        if bearer is None or bearer[0] != TokenKind.USER:
            return None
        try:
            token = tokens.user_token_authenticate(bearer[1])
        except Unauthorized as error:
            raise as_api_exception(error) from error
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="guildtrust"'


class RefuseTokenKind(BaseAuthentication):
    """A live bearer token of a kind this call does not take is refused (403) rather than taken
    for no credential; an unknown, revoked or expired one is a 401 as everywhere. Each call runs
    only the authenticators of what it accepts, and the schema names exactly those."""

    kind: TokenKind
    error: Forbidden

    def check(self, secret: str) -> None:
        """Raise the kind's own 401 for an unknown, revoked or expired token."""
        raise NotImplementedError

    def authenticate(self, request):
        bearer = bearer_secret(request)
        if bearer is None or bearer[0] != self.kind:
            return None
        try:
            self.check(bearer[1])
        except Unauthorized as error:
            raise as_api_exception(error) from error
        raise as_api_exception(self.error)


class UserTokenNotAccepted(RefuseTokenKind):
    kind = TokenKind.USER
    error = Forbidden("this call needs a lease token (lt_)", code="lease_token_required")

    def check(self, secret: str) -> None:
        tokens.user_token_authenticate(secret)


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
