"""HTTP <-> licensing services."""

import json
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config import metrics
from federation.api.auth import PeerCallView
from federation.models import Peer
from licensing import cards, corrections, federated, provenance, selectors, services, tokens
from licensing.models import Lease, LeaseTerms, LeaseToken, Studio, Takedown
from trust.api.auth import UserTokenAuthentication, UserTokenNotAccepted
from trust.api.pagination import PagedAPIView
from trust.api.permissions import IsMember, IsTrustAdmin
from trust.api.schema import errors, links
from trust.api.serializers import ErrorSerializer
from trust.api.validation import found, validated
from trust.collector import collector_paused
from trust.errors import Conflict, Forbidden, Invalid, NotFound
from trust.models import Dataset, DatasetVersion
from trust.selectors import member_of

from . import serializers as s
from .auth import LeaseTokenAuthentication
from .permissions import HasLeaseToken, HasLeaseTokenOrUser, IsStudioStaff, IsStudioStaffOrAdmin

# What a call accepts is what it authenticates, and so what the schema's `security` names.
LEASE_TOKEN_ONLY = [LeaseTokenAuthentication, UserTokenNotAccepted]
LEASE_TOKEN_OR_LOGIN = [UserTokenAuthentication, LeaseTokenAuthentication, SessionAuthentication]


class StudioListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.StudioOutputSerializer(many=True), summary="Studios (admin)")
    def get(self, request):
        return self.paged(Studio.objects.order_by("name", "pk"), s.StudioOutputSerializer)

    @errors(409)
    @links(201, AddStaff=("v1_studios_staff_create", {"studio_id": "$response.body#/id"}))
    @extend_schema(
        request=s.StudioInputSerializer,
        responses={201: s.StudioOutputSerializer},
        summary="Enrol a studio (admin)",
    )
    def post(self, request):
        studio = services.studio_create(actor=request.user, **validated(s.StudioInputSerializer, request))
        return Response(s.StudioOutputSerializer(studio).data, status=status.HTTP_201_CREATED)


class StudioStaffView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(409, 422)
    @extend_schema(
        request=s.StaffInputSerializer,
        responses={201: s.StaffOutputSerializer},
        summary="Add a staff login to a studio (admin)",
    )
    def post(self, request, studio_id):
        staff = services.studio_add_staff(
            actor=request.user,
            studio=found(Studio.objects, studio_id, what="studio"),
            **validated(s.StaffInputSerializer, request),
        )
        return Response(s.StaffOutputSerializer(staff).data, status=status.HTTP_201_CREATED)


class TermsListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.TermsOutputSerializer(many=True), summary="All lease terms (admin)")
    def get(self, request):
        terms = LeaseTerms.objects.prefetch_related("shared_with").order_by("-created_at", "-pk")
        return self.paged(terms, s.TermsOutputSerializer)

    @errors(422)
    @extend_schema(
        request=s.TermsInputSerializer,
        responses={201: s.TermsOutputSerializer},
        summary="Offer lease terms for a dataset (admin)",
    )
    def post(self, request):
        data = validated(s.TermsInputSerializer, request)
        dataset = Dataset.objects.filter(pk=data.pop("dataset")).first()
        if dataset is None:
            raise Invalid("no such dataset", code="unknown_dataset")
        terms = services.terms_create(actor=request.user, dataset=dataset, **data)
        return Response(s.TermsOutputSerializer(terms).data, status=status.HTTP_201_CREATED)


def _catalogue_entries(page: list) -> list[dict]:
    """Only the shown offers are described (their datasets counted, their coverage asked)."""
    now = timezone.now()
    return [selectors.catalogue_entry(row, at=now) for row in page]


class CatalogueView(PagedAPIView):
    permission_classes = [IsStudioStaffOrAdmin]

    @extend_schema(
        responses=s.CatalogueEntrySerializer(many=True),
        summary="This trust's active lease terms, then live peers' shared offers, each with its trust "
        "(studio staff)",
    )
    def get(self, request):
        rows = [*selectors.catalogue_terms(), *selectors.peer_offers()]
        return self.paged(rows, s.CatalogueEntrySerializer, prepare=_catalogue_entries)


class TermsShareView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(
        request=s.TermsShareSerializer,
        responses={
            200: s.TermsOutputSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            422: ErrorSerializer,
        },
        summary="Choose the peer trusts whose studios see these terms (admin)",
    )
    def put(self, request, terms_id):
        terms = found(LeaseTerms.objects.all(), terms_id, what="terms")
        slugs = set(validated(s.TermsShareSerializer, request)["peers"])
        peers = list(Peer.objects.filter(slug__in=slugs))
        unknown = slugs - {peer.slug for peer in peers}
        if unknown:
            raise Invalid(f"no such peer: {', '.join(sorted(unknown))}", code="unknown_peer")
        terms = services.terms_share(actor=request.user, terms=terms, peers=peers)
        return Response(s.TermsOutputSerializer(terms).data)


class InboundOffersView(PeerCallView):
    """What this trust shares with the calling peer: its catalogue entries for terms shared
    with that peer, described as its own studios see them."""

    @extend_schema(
        responses={200: s.SharedOffersSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
        summary="Offers shared with the calling peer (signed trust-to-trust call)",
    )
    def get(self, request):
        now = timezone.now()
        terms = selectors.offers_shared_with(request.auth)
        return Response({"offers": [selectors.offer_document(t, at=now) for t in terms]})


PEER_CALL_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class InboundLeasePartView(PeerCallView):
    """A peer forwards a part of its studio's federated lease under terms shared with it."""

    @extend_schema(
        request=s.InboundPartSerializer,
        responses={200: s.PartAnswerSerializer, 422: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="Record a part of the calling trust's lease here, in requested; idempotent by home lease "
        "id (signed trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.InboundPartSerializer, request)
        lease = federated.inbound_part_received(
            peer=request.auth,
            home_lease_id=data["home_lease_id"],
            terms_id=data["terms"],
            purpose=data["purpose"],
            studio_id=data["studio"]["id"],
            studio_name=data["studio"]["name"],
        )
        return Response(federated.part_answer(lease))


class InboundLeasePartEndView(PeerCallView):
    """The home trust ended its lease: the part here ends with it."""

    @extend_schema(
        request=s.PartEndSerializer,
        responses={200: s.PartAnswerSerializer, **PEER_CALL_ERRORS},
        summary="The calling trust ended its lease: cancel or revoke the part here (signed trust-to-trust "
        "call)",
    )
    def post(self, request):
        data = validated(s.PartEndSerializer, request)
        lease = federated.inbound_part_end_received(
            peer=request.auth, home_lease_id=data["home_lease_id"], reason=data["reason"]
        )
        return Response(federated.part_answer(lease))


class InboundPartDecisionView(PeerCallView):
    """A part's trust reports its decision on its part of a lease of this trust."""

    @extend_schema(
        request=s.PartDecisionSerializer,
        responses={200: s.LeasePartOutputSerializer, 422: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="The calling trust decided its part of a lease of this trust: approved, rejected, "
        "revoked, expired or cancelled (signed trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.PartDecisionSerializer, request)
        part = federated.part_decision_received(
            peer=request.auth,
            home_lease_id=data["home_lease_id"],
            status=data["status"],
            remote_lease_id=data["lease"],
            licensable=data.get("licensable"),
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            reason=data["reason"],
            prices=data.get("prices"),
        )
        lease = (
            Lease.objects.select_related("terms")
            .prefetch_related(selectors.PARTS_PREFETCH)
            .get(pk=part.lease_id)
        )
        row = next(row for row in selectors.lease_parts(lease) if row["trust"] == request.auth.slug)
        return Response(s.LeasePartOutputSerializer(row).data)


class InboundUsageView(PeerCallView):
    """The home trust of a federated lease forwards usage its studio reported for assets of this
    trust's part: recorded here under the part's own usage rules (source `federated`)."""

    @extend_schema(
        request=s.InboundUsageSerializer,
        responses={200: s.InboundUsageAnswerSerializer, 422: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="Usage of this trust's part of the calling trust's lease, forwarded by it; idempotent "
        "by event_key, events the part's rules refuse answered as refused (signed trust-to-trust call)",
    )
    def post(self, request):
        home_lease_id = s.home_lease_id_of(request.data)
        events = s.usage_events_from(request.data)
        answer = federated.inbound_usage_received(
            peer=request.auth, home_lease_id=home_lease_id, events=events
        )
        return Response(answer)


class LeaseListView(PagedAPIView):
    @extend_schema(
        responses=s.LeaseOutputSerializer(many=True),
        summary="Leases I may see: my studio's, or all for admins",
    )
    def get(self, request):
        leases = (
            selectors.leases_visible_to(request.user)
            .select_related("terms__dataset", "version", "studio__home_peer")
            .prefetch_related(selectors.PARTS_PREFETCH)
            .order_by("-requested_at", "-pk")
        )
        return self.paged(leases, s.LeaseOutputSerializer)

    @errors(409, 422)
    @links(
        201,
        GetLease=("v1_leases_retrieve", {"lease_id": "$response.body#/id"}),
        CancelLease=("v1_leases_cancel_create", {"lease_id": "$response.body#/id"}),
        ListTokens=("v1_leases_tokens_list", {"lease_id": "$response.body#/id"}),
        MintToken=("v1_leases_tokens_create", {"lease_id": "$response.body#/id"}),
        ApproveLease=("v1_leases_approve_create", {"lease_id": "$response.body#/id"}),
        RejectLease=("v1_leases_reject_create", {"lease_id": "$response.body#/id"}),
    )
    @extend_schema(
        request=s.LeaseInputSerializer,
        responses={
            201: s.LeaseOutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            409: ErrorSerializer,
            422: OpenApiResponse(
                ErrorSerializer,
                description="terms_or_parts, unknown_terms, unknown_trust, peer_not_live, offer_not_shared, "
                "offer_stale, mixed_currency, duplicate_trust, home_part_required, too_many_parts",
            ),
        },
        summary="Request a lease under active terms, or a federated lease over parts at several trusts "
        "(studio staff)",
    )
    def post(self, request):
        if selectors.studio_of(request.user) is None:
            raise Forbidden("only studio staff may request a lease", code="studio_only")
        data = validated(s.LeaseInputSerializer, request)
        if ("terms" in data) == ("parts" in data):
            # A rule the body's schema cannot say (exactly one of two optional fields): a 422.
            raise Invalid(
                "send either terms (a local lease) or parts (a federated one)", code="terms_or_parts"
            )
        if "parts" in data:
            lease = federated.federated_lease_request(
                actor=request.user,
                purpose=data["purpose"],
                parts=data["parts"],
                production=data["production"],
            )
            lease = selectors.lease_for(user=request.user, lease_id=lease.pk)
            return Response(s.LeaseOutputSerializer(lease).data, status=status.HTTP_201_CREATED)
        terms = LeaseTerms.objects.filter(pk=data["terms"]).select_related("dataset").first()
        if terms is None:
            raise Invalid("no such terms", code="unknown_terms")
        lease = services.lease_request(
            actor=request.user, terms=terms, purpose=data["purpose"], production=data["production"]
        )
        return Response(s.LeaseOutputSerializer(lease).data, status=status.HTTP_201_CREATED)


class LeaseDetailView(APIView):
    @extend_schema(responses=s.LeaseOutputSerializer, summary="One lease")
    def get(self, request, lease_id):
        return Response(
            s.LeaseOutputSerializer(selectors.lease_for(user=request.user, lease_id=lease_id)).data
        )


def _lease_decision(service):
    class DecisionView(APIView):
        permission_classes = [IsTrustAdmin]

        @errors(409)
        @extend_schema(
            request=s.ReasonSerializer,
            responses=s.LeaseOutputSerializer,
            summary=f"{service.__name__.removeprefix('lease_').capitalize()} a lease (admin)",
        )
        def post(self, request, lease_id):
            lease = selectors.lease_for(user=request.user, lease_id=lease_id)
            kwargs = {}
            if service is not services.lease_approve:
                kwargs["reason"] = validated(s.ReasonSerializer, request)["reason"]
            lease = service(actor=request.user, lease=lease, **kwargs)
            return Response(s.LeaseOutputSerializer(lease).data)

    DecisionView.__name__ = f"Lease{service.__name__.removeprefix('lease_').capitalize()}View"
    return DecisionView


LeaseApproveView = _lease_decision(services.lease_approve)
LeaseRejectView = _lease_decision(services.lease_reject)
LeaseRevokeView = _lease_decision(services.lease_revoke)


class LeaseCancelView(APIView):
    permission_classes = [IsStudioStaff]

    @errors(409)
    @extend_schema(
        request=None,
        responses=s.LeaseOutputSerializer,
        summary="Cancel my studio's request while it waits for a decision (studio staff); 409 once decided",
    )
    def post(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        return Response(s.LeaseOutputSerializer(services.lease_cancel(actor=request.user, lease=lease)).data)


class LeaseTokensView(PagedAPIView):
    @extend_schema(responses=s.TokenOutputSerializer(many=True), summary="Tokens of a lease (studio staff)")
    def get(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        return self.paged(selectors.tokens_of(lease), s.TokenOutputSerializer)

    @errors(409, 410, 422)
    @links(
        201,
        RevokeToken=(
            "v1_leases_tokens_destroy",
            {"lease_id": "$request.path.lease_id", "token_id": "$response.body#/id"},
        ),
    )
    @extend_schema(
        request=s.TokenInputSerializer,
        responses={201: s.TokenCreatedSerializer},
        summary="Mint an `lt_` token: shown once, never past the lease's end (studio staff)",
    )
    def post(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        data = validated(s.TokenInputSerializer, request)
        lifetime = timedelta(days=data["lifetime_days"]) if data.get("lifetime_days") else None
        token, secret = tokens.lease_token_mint(
            actor=request.user, lease=lease, name=data["name"], lifetime=lifetime
        )
        return Response(
            {"id": token.pk, "name": token.name, "token": secret, "expires_at": token.expires_at},
            status=status.HTTP_201_CREATED,
        )


class LeaseTokenDetailView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="Revoke a token at once (studio staff)")
    def delete(self, request, lease_id, token_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        token = selectors.tokens_of(lease).filter(pk=token_id).first()
        if token is None:
            raise NotFound("no such token", code="token_not_found")
        tokens.lease_token_revoke(actor=request.user, lease=lease, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


DERIVE_REFUSALS = (
    "not_derivable (an lt_ token), parent_invalid, parent_revoked, parent_expired, vendor_invalid, "
    "asset_invalid, asset_not_in_lease, use_not_in_lease, wider_than_parent (an asset or use the parent "
    "token does not open), assets_empty, uses_empty, expiry_in_past, expiry_not_before_parent"
)


class DerivedTokenDeriveView(APIView):
    @errors(409, 410, 422)
    @links(
        201,
        RevokeDerivedToken=(
            "v1_leases_derived_tokens_revoke_create",
            {"lease_id": "$request.path.lease_id", "derived_id": "$response.body#/id"},
        ),
    )
    @extend_schema(
        request=s.DerivedTokenInputSerializer,
        responses={
            201: s.DerivedTokenCreatedSerializer,
            422: OpenApiResponse(ErrorSerializer, description=DERIVE_REFUSALS),
        },
        summary="Derive a vendor's token from a federated lease's ft_ token: fewer assets or uses, an "
        "earlier expiry, never wider; shown once (studio staff)",
    )
    def post(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        data = validated(s.DerivedTokenInputSerializer, request)
        token, secret = tokens.lease_token_derive(
            actor=request.user,
            lease=lease,
            parent_secret=data["token"],
            vendor=data["vendor"],
            assets=data.get("assets"),
            uses=data.get("uses"),
            expires_at=data.get("expires_at"),
        )
        (token,) = tokens.derived_tokens_with_state(lease, [token])
        body = {"token": secret, **s.DerivedTokenOutputSerializer(token).data}
        return Response(body, status=status.HTTP_201_CREATED)


class DerivedTokensView(PagedAPIView):
    @extend_schema(
        responses=s.DerivedTokenOutputSerializer(many=True),
        summary="Vendors' tokens derived from a lease's tokens, with their restrictions and state (studio "
        "staff); never their secrets",
    )
    def get(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        return self.paged(
            tokens.derived_tokens_of(lease),
            s.DerivedTokenOutputSerializer,
            prepare=lambda page: tokens.derived_tokens_with_state(lease, page),
        )


class DerivedTokenRevokeView(APIView):
    @extend_schema(
        request=None,
        responses=s.DerivedTokenOutputSerializer,
        summary="Revoke a vendor's token at every trust of the lease, with every token derived from it; "
        "its parent keeps working (studio staff)",
    )
    def post(self, request, lease_id, derived_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        token = tokens.derived_tokens_of(lease).filter(pk=derived_id).first()
        if token is None:
            raise NotFound("no such derived token", code="token_not_found")
        token = tokens.derived_token_revoke(actor=request.user, lease=lease, token=token)
        (token,) = tokens.derived_tokens_with_state(lease, [token])
        return Response(s.DerivedTokenOutputSerializer(token).data)


# Rows per fetch from the server-side cursor and per chunk of the streamed manifest.
MANIFEST_CHUNK_ROWS = 2000


def _json(value) -> str:
    # What DRF's renderer writes: compact, UTF-8.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _manifest_chunks(lease, *, assets_base: str, remote_parts=(), only=None) -> Iterator[bytes]:
    """The manifest document, in chunks of MANIFEST_CHUNK_ROWS entries read from a server-side
    cursor: the worker holds one chunk at a time, however many assets the lease has. With
    `remote_parts` (a federated lease at its home trust) every entry names its `trust`; after
    this trust's entries come each part's as its trust answered just now, then `parts`: each
    part `available`, or `unavailable` with the reason (a peer that does not answer). With
    `only` (the asset ids a vendor's token is narrowed to), the other assets are left out."""
    head = {
        "lease": lease.pk,
        "dataset": lease.version.dataset.slug,
        "version": lease.version.number,
        "manifest_sha256": lease.version.manifest_sha256,
    }
    yield (_json(head)[:-1] + ',"assets":[').encode()
    trust = settings.TRUST_SLUG if remote_parts else None
    entries = selectors.manifest_entries(
        lease, assets_base=assets_base, chunk_size=MANIFEST_CHUNK_ROWS, trust=trust, only=only
    )
    chunk, separator = [], ""
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == MANIFEST_CHUNK_ROWS:
            yield (separator + ",".join(chunk)).encode()
            chunk, separator = [], ","
    if chunk:
        yield (separator + ",".join(chunk)).encode()
        separator = ","
    if not remote_parts:
        yield b"]}"
        return
    parts = [{"trust": settings.TRUST_SLUG, "lease": lease.pk, "status": "available", "reason": ""}]
    for part in remote_parts:
        answer, reason = federated.part_manifest(part)
        row = {"trust": part.peer.slug, "lease": part.remote_lease_id}
        if answer is None:
            parts.append(row | {"status": "unavailable", "reason": reason})
            continue
        parts.append(row | {"status": "available", "reason": "", "dataset": answer.get("dataset")})
        for start in range(0, len(answer["assets"]), MANIFEST_CHUNK_ROWS):
            texts = [
                _json(entry | {"trust": part.peer.slug})
                for entry in answer["assets"][start : start + MANIFEST_CHUNK_ROWS]
                if isinstance(entry, dict) and (only is None or str(entry.get("id")) in only)
            ]
            if texts:
                yield (separator + ",".join(texts)).encode()
                separator = ","
    yield ('],"parts":' + _json(parts) + "}").encode()


class ManifestView(APIView):
    authentication_classes = LEASE_TOKEN_ONLY
    permission_classes = [HasLeaseToken]

    @extend_schema(
        responses=s.ManifestSerializer,
        summary="The assets this lease may use now, with gateway download links (lease token); "
        "streamed, so 100,000 assets start arriving at once",
    )
    def get(self, request, lease_id):
        lease = tokens.lease_of_token(token=request.auth, lease_id=lease_id)
        base = request.build_absolute_uri(reverse("api-lease-manifest", kwargs={"lease_id": lease.pk}))
        # Only a federated lease's token (`ft_`) at its home trust spans parts at other trusts.
        remote = (
            federated.remote_parts_of(lease)
            if isinstance(request.auth, tokens.FederatedAccess) and request.auth.pk is not None
            else ()
        )
        # A vendor's token narrowed to some assets sees those only (the gateway refuses the rest).
        only = request.auth.verified.assets if isinstance(request.auth, tokens.FederatedAccess) else None
        response = StreamingHttpResponse(
            _manifest_chunks(
                lease,
                assets_base=base.removesuffix("manifest/") + "assets/",
                remote_parts=remote,
                only=only,
            ),
            content_type="application/json",
        )
        response["Cache-Control"] = "no-store"
        return response


class InboundPartManifestView(PeerCallView):
    """The home trust of a federated lease asks this trust for its part's manifest: this trust's
    own licensable assets of the part, now, with download URLs at this trust's gateway."""

    @extend_schema(
        responses={200: s.ManifestSerializer, 409: ErrorSerializer, 410: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="This trust's part of the calling trust's lease: its licensable assets now, with this "
        "trust's gateway URLs (signed trust-to-trust call)",
    )
    def get(self, request, home_lease_id):
        lease = federated.inbound_part_manifest_lease(peer=request.auth, home_lease_id=home_lease_id)
        base = settings.PUBLIC_BASE_URL.rstrip("/") + reverse(
            "api-lease-manifest", kwargs={"lease_id": lease.pk}
        )
        response = StreamingHttpResponse(
            _manifest_chunks(lease, assets_base=base.removesuffix("manifest/") + "assets/"),
            content_type="application/json",
        )
        response["Cache-Control"] = "no-store"
        return response


class InboundRevocationsView(PeerCallView):
    """Revoked `ft_` tokens between trusts: the home trust pushes them (POST) and answers each
    part's trust's pull (GET ?since=cursor) with those of its leases with a part there."""

    @extend_schema(
        parameters=[OpenApiParameter("since", int, description="the cursor of the last pull (0 at first)")],
        responses={200: s.RevocationListSerializer, **PEER_CALL_ERRORS},
        summary="Revoked federated tokens of this trust's leases with a part at the caller, after a "
        "cursor (signed trust-to-trust call)",
    )
    def get(self, request):
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            raise Invalid("since is the cursor of the last pull, a whole number", code="bad_cursor")
        return Response(tokens.revocations_for_peer(peer=request.auth, since=int(since)))

    @extend_schema(
        request=s.RevocationPushSerializer,
        responses={200: s.RevocationsAcceptedSerializer, **PEER_CALL_ERRORS},
        summary="The calling trust revoked these tokens of its leases with a part here (signed "
        "trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.RevocationPushSerializer, request)
        new = tokens.revocations_received(peer=request.auth, revocations=data["revocations"])
        return Response({"accepted": new})


class InboundTakedownsView(PeerCallView):
    """At a lease's home trust: a part's trust issued a takedown notice on its part (a member there
    withdrew consent); it is recorded against the lease for the studio, once per notice."""

    @extend_schema(
        request=s.RelayedTakedownSerializer,
        responses={200: s.RelayedTakedownAnswerSerializer, **PEER_CALL_ERRORS},
        summary="A takedown notice the calling trust issued on its part of a lease of this trust; "
        "idempotent by the notice's id (signed trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.RelayedTakedownSerializer, request)
        takedown = federated.relayed_takedown_received(
            peer=request.auth,
            home_lease_id=data["home_lease_id"],
            takedown_id=data["takedown"],
            asset_id=data["asset"],
            kind=data["kind"],
            issued_at=data.get("issued_at"),
            acknowledge_due_at=data.get("acknowledge_due_at"),
            attest_due_at=data.get("attest_due_at"),
        )
        return Response({"id": takedown.pk, "status": takedown.status})


class InboundTakedownStatusView(PeerCallView):
    """At the trust that issued a takedown notice: the studio acknowledged it, or attested
    deletion, at the lease's home trust."""

    @extend_schema(
        request=s.TakedownStatusSerializer,
        responses={200: s.RelayedTakedownAnswerSerializer, 422: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="The studio's step on a takedown notice of this trust, taken at the calling (home) "
        "trust; only forward (signed trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.TakedownStatusSerializer, request)
        takedown = federated.takedown_status_received(
            peer=request.auth,
            takedown_id=data["takedown"],
            status=data["status"],
            acknowledged_at=data.get("acknowledged_at"),
            attested_at=data.get("attested_at"),
            attestation=data.get("attestation") or "",
        )
        return Response({"id": takedown.pk, "status": takedown.status})


class DownloadView(APIView):
    authentication_classes = LEASE_TOKEN_ONLY
    permission_classes = [HasLeaseToken]

    def handle_exception(self, exc):
        # Every refusal, the token's (401/410) and the gateway's (403/404/409), counted by its code.
        response = super().handle_exception(exc)
        metrics.gateway_download_refused((getattr(response, "data", None) or {}).get("code", "error"))
        return response

    @errors(409)
    @extend_schema(
        responses={
            302: OpenApiResponse(description="redirect to a presigned URL (at most 5 minutes)"),
            503: OpenApiResponse(ErrorSerializer, description="object storage unreachable: nothing recorded"),
        },
        summary="Download one asset: consent re-checked, one download recorded per asset and token per pull "
        "window (a refresh inside it gets a fresh URL, unbilled) (lease token)",
    )
    def get(self, request, lease_id, asset_id):
        url = services.gateway_download(token=request.auth, lease_id=lease_id, asset_id=asset_id)
        metrics.gateway_download_served()
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


class C2paRenderer(JSONRenderer):
    """Lets a client ask for `Accept: application/c2pa` (a sidecar) instead of a 406; an error
    is still JSON."""

    media_type = provenance.SIDECAR_MEDIA_TYPE
    format = "c2pa"


class AssetProvenanceView(APIView):
    authentication_classes = LEASE_TOKEN_ONLY
    permission_classes = [HasLeaseToken]
    renderer_classes = [JSONRenderer, C2paRenderer]

    @errors(409, 503)
    @extend_schema(
        operation_id="v1_leases_assets_c2pa_retrieve",
        responses={
            (200, provenance.SIDECAR_MEDIA_TYPE): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="C2PA manifest store (JUMBF) bound to the asset's bytes, signed by the trust",
            ),
        },
        summary="The asset's C2PA provenance as a `.c2pa` sidecar: whom the trust holds it for (member "
        "numbers), the consent uses granted, and the CAWG training-and-data-mining assertion constraining "
        "every AI use to this lease; images, audio and video only (409 otherwise); refused as the gateway "
        "refuses; records no usage (lease token)",
    )
    def get(self, request, lease_id, asset_id):
        sidecar = provenance.lease_asset_sidecar(token=request.auth, lease_id=lease_id, asset_id=asset_id)
        response = HttpResponse(sidecar.manifest, content_type=provenance.SIDECAR_MEDIA_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{sidecar.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


class UsageView(APIView):
    # The lease token is also accepted after the lease ended: usage dated while it was live.
    accepts_ended_lease_tokens = True
    authentication_classes = LEASE_TOKEN_ONLY
    permission_classes = [HasLeaseToken]

    @errors(409, 422)
    @extend_schema(
        request=s.UsageReportSerializer,
        responses={202: s.UsageAcceptedSerializer},
        summary="Report training runs, generated seconds and substitution savings; event_key makes it "
        "idempotent; an event with `corrects` and a signed quantity corrects a recorded one (lease token)",
        description="A `substitution_saving` event carries `amount_cents` (the costs a digital double saved "
        "the studio) instead of a quantity; the close charges the lease's substitution premium on it. "
        "422 `no_substitution_premium` when the lease's terms carry none.",
    )
    def post(self, request, lease_id):
        # Up to USAGE_EVENTS_MAX events parsed, checked and copied: acyclic garbage only.
        with collector_paused():
            events = s.usage_events_from(request.data)
            accepted, duplicates = services.usage_report(token=request.auth, lease_id=lease_id, events=events)
        metrics.usage_reported(accepted=accepted, duplicates=duplicates)
        return Response({"accepted": accepted, "duplicates": duplicates}, status=status.HTTP_202_ACCEPTED)


class LeaseTakedownsView(PagedAPIView):
    authentication_classes = LEASE_TOKEN_OR_LOGIN
    permission_classes = [HasLeaseTokenOrUser]

    @extend_schema(
        responses=s.TakedownOutputSerializer(many=True),
        summary="Takedown notices of a lease (studio staff or lease token)",
    )
    def get(self, request, lease_id):
        if isinstance(request.auth, LeaseToken | tokens.FederatedAccess):
            lease = tokens.lease_of_token(token=request.auth, lease_id=lease_id)
        else:
            lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        return self.paged(selectors.takedowns_for(lease), s.TakedownOutputSerializer)


def _takedown(user, takedown_id) -> Takedown:
    takedown = (
        selectors.takedowns_visible_to(user).select_related("lease__studio").filter(pk=takedown_id).first()
    )
    if takedown is None:
        raise NotFound("no such takedown notice", code="takedown_not_found")
    return takedown


class TakedownAcknowledgeView(APIView):
    permission_classes = [IsStudioStaff]

    @errors(409)
    @extend_schema(
        request=None, responses=s.TakedownOutputSerializer, summary="Acknowledge a takedown (studio staff)"
    )
    def post(self, request, takedown_id):
        takedown = services.takedown_acknowledge(
            actor=request.user, takedown=_takedown(request.user, takedown_id)
        )
        return Response(s.TakedownOutputSerializer(takedown).data)


class TakedownAttestView(APIView):
    permission_classes = [IsStudioStaff]

    @errors(409, 422)
    @extend_schema(
        request=s.AttestationSerializer,
        responses=s.TakedownOutputSerializer,
        summary="Attest deletion of the withdrawn asset (studio staff)",
    )
    def post(self, request, takedown_id):
        statement = validated(s.AttestationSerializer, request)["statement"]
        takedown = services.takedown_attest_deletion(
            actor=request.user, takedown=_takedown(request.user, takedown_id), statement=statement
        )
        return Response(s.TakedownOutputSerializer(takedown).data)


class TransparencyView(PagedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=s.RegisterEntrySerializer(many=True),
        summary="Public register: who leased which dataset version, for what, how many members",
    )
    def get(self, request):
        return self.paged(
            selectors.transparency_leases(), s.RegisterEntrySerializer, prepare=selectors.transparency_entries
        )


# --- Open formats: Croissant dataset cards and ODRL agreements ------------------------------------

JSON_LD = "application/ld+json"


class JsonLdRenderer(JSONRenderer):
    """Lets a client ask for `Accept: application/ld+json` (JSON-LD is JSON) instead of a 406."""

    media_type = JSON_LD
    format = "jsonld"


# JSON first: errors stay `application/json` for a client that accepts anything.
JSON_LD_RENDERERS = [JSONRenderer, JsonLdRenderer]


def _json_ld_stream(chunks) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=JSON_LD)
    response["Cache-Control"] = "no-store"
    return response


class DatasetVersionCroissantView(APIView):
    renderer_classes = JSON_LD_RENDERERS
    permission_classes = [IsTrustAdmin]

    @extend_schema(
        operation_id="v1_datasets_versions_croissant_retrieve",
        responses={(200, JSON_LD): OpenApiTypes.OBJECT},
        summary="Croissant 1.1 card (JSON-LD, with Responsible-AI fields) of a frozen dataset version: every "
        "asset as a FileObject with its SHA-256, and a RecordSet of their fields; streamed (admin)",
    )
    def get(self, request, dataset_id, number):
        version = (
            DatasetVersion.objects.select_related("dataset")
            .filter(dataset_id=dataset_id, number=number)
            .first()
        )
        if version is None:
            raise NotFound("no such dataset version", code="version_not_found")
        return _json_ld_stream(cards.version_card(version))


def _lease_with_parts(lease_id) -> Lease:
    """The lease as its documents need it: version, studio and parts loaded."""
    return (
        Lease.objects.select_related("version__dataset", "studio__home_peer")
        .prefetch_related(selectors.PARTS_PREFETCH)
        .get(pk=lease_id)
    )


class LeaseCroissantView(APIView):
    renderer_classes = JSON_LD_RENDERERS
    authentication_classes = LEASE_TOKEN_ONLY
    permission_classes = [HasLeaseToken]

    @extend_schema(
        operation_id="v1_leases_croissant_retrieve",
        responses={(200, JSON_LD): OpenApiTypes.OBJECT},
        summary="Croissant 1.1 card of what this lease may use now: the manifest's assets with their "
        "download links, Responsible-AI fields and the lease's ODRL agreement as its licence; streamed "
        "(lease token)",
    )
    def get(self, request, lease_id):
        lease = _lease_with_parts(tokens.lease_of_token(token=request.auth, lease_id=lease_id).pk)
        iri = request.build_absolute_uri(reverse("api-lease-croissant", kwargs={"lease_id": lease.pk}))
        base = request.build_absolute_uri(reverse("api-lease-manifest", kwargs={"lease_id": lease.pk}))
        only = request.auth.verified.assets if isinstance(request.auth, tokens.FederatedAccess) else None
        return _json_ld_stream(
            cards.lease_card(
                lease, iri=iri, assets_base=base.removesuffix("manifest/") + "assets/", only=only
            )
        )


class LeaseOdrlView(APIView):
    renderer_classes = JSON_LD_RENDERERS
    authentication_classes = LEASE_TOKEN_OR_LOGIN
    permission_classes = [HasLeaseTokenOrUser]

    @errors(409)
    @extend_schema(
        operation_id="v1_leases_odrl_retrieve",
        responses={(200, JSON_LD): OpenApiTypes.OBJECT},
        summary="The lease's ODRL 2.2 agreement (JSON-LD): permissions per use with their time window and "
        "download cap, prohibitions, duties to pay, report usage and delete on takedown (studio staff of the "
        "lease, admin, or the lease token); 409 before approval",
    )
    def get(self, request, lease_id):
        if isinstance(request.auth, LeaseToken | tokens.FederatedAccess):
            lease = tokens.lease_of_token(token=request.auth, lease_id=lease_id)
        else:
            lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        if lease.status not in Lease.APPROVED_STATUSES:
            raise Conflict(
                f"this lease is {lease.status}: it has no agreement until it is approved",
                code="lease_not_approved",
            )
        response = Response(cards.agreement(_lease_with_parts(lease.pk)), content_type=JSON_LD)
        response["Cache-Control"] = "no-store"
        return response


# --- The model register -----------------------------------------------------------------------------


class LeaseModelsView(PagedAPIView):
    @extend_schema(
        responses=s.TrainedModelOutputSerializer(many=True),
        summary="Models declared as trained under this lease (studio staff of the lease, admin)",
    )
    def get(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        return self.paged(selectors.lease_models(lease), s.TrainedModelOutputSerializer)

    @errors(409, 422)
    @extend_schema(
        request=s.TrainedModelInputSerializer,
        responses={
            201: s.TrainedModelOutputSerializer,
            422: OpenApiResponse(
                ErrorSerializer,
                description="version_not_in_lease, training_outside_lease, training_dates_invalid",
            ),
        },
        summary="Declare a model trained under this lease, on its dataset version (studio staff of the "
        "lease)",
    )
    def post(self, request, lease_id):
        lease = selectors.lease_for(user=request.user, lease_id=lease_id)
        data = validated(s.TrainedModelInputSerializer, request)
        model = services.trained_model_declare(
            actor=request.user,
            lease=lease,
            name=data["name"],
            version=data["version"],
            purpose=data["purpose"],
            dataset_versions=[(ref["dataset"], ref["version"]) for ref in data["dataset_versions"]],
            training_started_on=data["training_started_on"],
            training_ended_on=data["training_ended_on"],
        )
        model = selectors.lease_models(lease).get(pk=model.pk)
        return Response(s.TrainedModelOutputSerializer(model).data, status=status.HTTP_201_CREATED)


class TransparencyModelsView(PagedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=s.RegisterModelSerializer(many=True),
        summary="Public register of models: which studio trained which model on which dataset versions, "
        "under which lease, naming only members who opted in",
    )
    def get(self, request):
        return self.paged(
            selectors.register_models(), s.RegisterModelSerializer, prepare=selectors.register_model_entries
        )


class MyModelsView(PagedAPIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=s.RegisterModelSerializer(many=True),
        summary="Models trained on my data: those declared under leases that included my assets, most "
        "recent training first (member)",
    )
    def get(self, request):
        models = selectors.member_models(member_of(request.user))
        return self.paged(models, s.RegisterModelSerializer, prepare=selectors.register_model_entries)


class UsageCorrectionView(APIView):
    """An administrator's corrections of a lease's recorded usage (licensing.corrections)."""

    permission_classes = [IsTrustAdmin]

    @errors(409, 422)
    @extend_schema(
        request=s.UsageCorrectionReportSerializer,
        responses={201: s.UsageAcceptedSerializer},
        summary="Correct a lease's recorded usage, gateway downloads included: compensating events "
        "naming the event they correct (`corrects`), a re-sent event_key counted once (admin)",
    )
    def post(self, request, lease_id):
        lease = found(Lease.objects, lease_id, what="lease")
        events = s.usage_corrections_from(request.data)
        accepted = corrections.usage_correct(actor=request.user, lease=lease, corrections=events)
        return Response(
            {"accepted": accepted, "duplicates": len(events) - accepted}, status=status.HTTP_201_CREATED
        )
