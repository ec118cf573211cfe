from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from licensing import tokens
from trust.api.auth import RefuseTokenKind, bearer_secret
from trust.api.errors import as_api_exception
from trust.errors import DomainError, Forbidden
from trust.tokens import TokenKind


class LeaseTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer lt_...`: request.auth is the LeaseToken, request.user anonymous.
    Checked against the database on every request, so a revocation holds on every worker."""

    refusal_statuses = (401, 410)  # unknown, expired or revoked token; ended or revoked lease

    def authenticate(self, request):
        bearer = bearer_secret(request)
        if bearer is None or bearer[0] != TokenKind.LEASE:
            return None
        # Only a view that says so (the usage report) lets a token of an ended lease through.
        view = request.parser_context.get("view") if request.parser_context else None
        for_usage_report = getattr(view, "accepts_ended_lease_tokens", False)
        try:
            token = tokens.lease_token_authenticate(bearer[1], for_usage_report=for_usage_report)
        except DomainError as error:
            raise as_api_exception(error) from error
        return AnonymousUser(), token

    def authenticate_header(self, request):
        return 'Bearer realm="guildtrust"'


class LeaseTokenNotAccepted(RefuseTokenKind):
    """On the calls of people (a `ut_` token or a session): a lease token is a 403 whatever its
    state, so nothing about a lease leaks through a call that has nothing to do with it."""

    kind = TokenKind.LEASE
    error = Forbidden(
        "this call takes a user token (ut_) or a signed-in session, not a lease token",
        code="lease_token_not_accepted",
    )

    def check(self, secret: str) -> None:
        tokens.lease_token_check(secret)


class LeaseTokenScheme(OpenApiAuthenticationExtension):
    target_class = "licensing.api.auth.LeaseTokenAuthentication"
    name = "leaseToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`lt_` lease token from POST /api/v1/leases/{id}/tokens/",
        }
