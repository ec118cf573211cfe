"""HTTP <-> federation services: the well-known document, peers for administrators, and the
signed calls peers make to this trust."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from trust.api.pagination import PagedAPIView
from trust.api.permissions import IsTrustAdmin
from trust.api.serializers import ErrorSerializer
from trust.api.validation import found, validated

from .. import selectors, services
from ..models import Peer
from . import serializers as s
from .auth import PeerCallView

ADMIN_ERRORS = {401: ErrorSerializer, 403: ErrorSerializer}
PEER_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 502: ErrorSerializer}


class WellKnownView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=s.WellKnownSerializer, auth=[], summary="This trust's identity and public keys (public)"
    )
    def get(self, request):
        return Response(selectors.identity())


class PeerListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.PeerOutputSerializer(many=True), summary="Peers of this trust (admin)")
    def get(self, request):
        return self.paged(selectors.peers(), s.PeerOutputSerializer)

    @extend_schema(
        request=s.PeerAddSerializer,
        responses={
            201: s.PeerOutputSerializer,
            400: ErrorSerializer,
            409: ErrorSerializer,
            422: ErrorSerializer,
            502: ErrorSerializer,
            **ADMIN_ERRORS,
        },
        summary="Add a peer: our half of the double opt-in, checked against its key's fingerprint",
    )
    def post(self, request):
        data = validated(s.PeerAddSerializer, request)
        peer = services.peer_add(actor=request.user, url=data["url"], fingerprint=data["fingerprint"])
        return Response(s.PeerOutputSerializer(peer).data, status=status.HTTP_201_CREATED)


class _PeerActionView(APIView):
    permission_classes = [IsTrustAdmin]
    service = staticmethod(services.peer_suspend)

    def post(self, request, peer_id):
        peer = found(Peer.objects.all(), peer_id, what="peer")
        return Response(s.PeerOutputSerializer(self.service(actor=request.user, peer=peer)).data)


@extend_schema(
    request=None,
    responses={200: s.PeerOutputSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **ADMIN_ERRORS},
    summary="Suspend a peering: every federated call stops both ways (admin)",
)
class PeerSuspendView(_PeerActionView):
    service = staticmethod(services.peer_suspend)


@extend_schema(
    request=None,
    responses={200: s.PeerOutputSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **ADMIN_ERRORS},
    summary="Resume a suspended peering (admin)",
)
class PeerResumeView(_PeerActionView):
    service = staticmethod(services.peer_resume)


class InboundHelloView(PeerCallView):
    accepts_introductions = True
    accepts_unlive = True

    @extend_schema(
        request=s.HelloSerializer,
        responses={200: s.HelloAnswerSerializer, **PEER_ERRORS},
        summary="A peer says it added this trust (signed trust-to-trust call)",
    )
    def post(self, request):
        validated(s.HelloSerializer, request)
        peer = services.peer_hello_received(peer=request.auth)
        return Response({"added_you": peer.added_by_us_at is not None})


class InboundSuspensionView(PeerCallView):
    accepts_unlive = True

    @extend_schema(
        request=s.SuspensionSerializer,
        responses={204: None, **PEER_ERRORS},
        summary="A peer suspended or resumed its peering with this trust (signed trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.SuspensionSerializer, request)
        services.peer_suspension_received(peer=request.auth, suspended=data["suspended"])
        return Response(status=status.HTTP_204_NO_CONTENT)
