"""Authentication of trust-to-trust calls (see federation.signed_calls). The caller is a Peer,
not a user: `request.auth` is the verified Peer and `request.user` stays anonymous."""

import json

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from trust.api.errors import as_api_exception
from trust.errors import DomainError, Forbidden, Unauthorized

from .. import services, signed_calls
from ..models import Peer


def _introduced_peer(caller: signed_calls.CallerClaims, body: bytes) -> Peer:
    """A trust we do not know yet, saying hello: its keys come from the well-known document at
    the base URL it names, which must be published under the slug it signs as."""
    try:
        base_url = json.loads(body or b"{}").get("base_url", "")
    except (ValueError, AttributeError):
        base_url = ""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise Unauthorized("a hello from an unknown trust must name its base_url", code="unknown_peer")
    document = signed_calls.fetch_well_known(base_url)
    if document["slug"] != caller.issuer:
        raise Unauthorized("the base_url publishes another trust", code="unknown_peer")
    peer = Peer(slug=caller.issuer)
    services.apply_document(peer, document, base_url)
    return peer


class PeerCallAuthentication(BaseAuthentication):
    """Views set `accepts_introductions` (the hello) or `accepts_unlive` (peering messages) to
    hear from peers whose peering is not live; every other federated call needs a live peer."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1")
        view = request.parser_context.get("view") if request.parser_context else None
        try:
            caller = signed_calls.caller_of(header)
            body = request._request.body
            peer = Peer.objects.filter(slug=caller.issuer).first()
            if peer is None:
                if not getattr(view, "accepts_introductions", False):
                    raise Unauthorized(f"{caller.issuer!r} is not a peer of this trust", code="unknown_peer")
                peer = _introduced_peer(caller, body)
            elif peer.key_named(caller.kid) is None:
                peer = services.peer_refresh_keys(peer=peer)
            signed_calls.verify_call(
                caller, peer, method=request.method, path=request._request.get_full_path(), body=body
            )
            if not (peer.is_live or getattr(view, "accepts_unlive", False)):
                raise Forbidden(f"peering with {peer.slug} is not live", code="peer_not_live")
        except DomainError as error:
            raise as_api_exception(error) from error
        return AnonymousUser(), peer

    def authenticate_header(self, request):
        return signed_calls.SCHEME


class IsPeer(BasePermission):
    message = "only a peer trust may call this"
    code = "peers_only"

    def has_permission(self, request, view):
        return isinstance(request.auth, Peer)


class PeerCallView(APIView):
    """A trust-to-trust endpoint: a signed call of a live peer (see PeerCallAuthentication for the
    exceptions a view may declare), never a user or a lease token."""

    authentication_classes = [PeerCallAuthentication]
    permission_classes = [IsPeer]


class PeerCallScheme(OpenApiAuthenticationExtension):
    target_class = "federation.api.auth.PeerCallAuthentication"
    name = "peerCall"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Peer <token>`: an EdDSA JWT signed by the calling trust's key (kid), "
            "binding method, path, body SHA-256, audience and a single-use nonce; 60 s clock skew.",
        }
