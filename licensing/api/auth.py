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
    Checked against the database on every request, so a revocation holds on every worker.
    `Bearer ft_...` (a federated lease's token): verified offline for the lease (and asset) in
    the URL, request.auth is the `FederatedAccess` it opens."""

    # Unknown, expired or revoked token; ended or revoked lease; tokens suspended for an overdue takedown.
    refusal_statuses = (401, 410, 423)

    def authenticate(self, request):
        bearer = bearer_secret(request)
        if bearer is None or bearer[0] not in (TokenKind.LEASE, TokenKind.FEDERATED):
            return None
        # Only a view that says so (the usage report) lets a token of an ended lease through.
        context = request.parser_context or {}
        view = context.get("view")
        for_usage_report = getattr(view, "accepts_ended_lease_tokens", False)
        try:
            if bearer[0] == TokenKind.LEASE:
                token = tokens.lease_token_authenticate(bearer[1], for_usage_report=for_usage_report)
            else:
                kwargs = context.get("kwargs") or {}
                if "lease_id" not in kwargs:
                    return None  # an `ft_` token opens one lease's calls only
                token = tokens.federated_token_authenticate(
                    bearer[1],
                    lease_id=kwargs["lease_id"],
                    asset_id=kwargs.get("asset_id"),
                    for_usage_report=for_usage_report,
                )
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
            "description": "`lt_` lease token from POST /api/v1/leases/{id}/tokens/, or for a "
            "federated lease an `ft_` token (a Biscuit signed by the lease's home trust) that every "
            "trust of the lease verifies offline",
        }
