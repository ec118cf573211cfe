"""HTTP <-> trust services. Views validate shape, call one service, render the result."""

from functools import partial

from django.contrib.auth import authenticate
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from trust import destruction, receipts, selectors, services, signin, tokens
from trust.errors import Forbidden, NotFound, TooManyAttempts, Unauthorized
from trust.models import AuditEvent, Consent, Dataset, Member, UserToken

from . import serializers as s
from .pagination import PagedAPIView
from .permissions import IsMember, IsMemberOrAuthority, IsTrustAdmin
from .schema import errors, links
from .validation import found, validated


class TokenView(APIView):
    throttle_scope = "auth"

    def _minting(self) -> bool:
        return getattr(self.request, "method", None) == "POST"

    def get_authenticators(self):
        # Minting needs no authentication; revoking is done with the token itself.
        return [] if self._minting() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._minting() else super().get_permissions()

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={
            201: s.TokenResponseSerializer,
            401: s.ErrorSerializer,
            429: s.ErrorSerializer,
            503: s.ErrorSerializer,
        },
        auth=[],
        summary="Exchange a username and password for a `ut_` API token",
    )
    def post(self, request):
        data = validated(s.TokenRequestSerializer, request)
        # The Django request: django-axes marks a locked-out caller on it, as on the login page.
        django_request = request._request
        user = authenticate(django_request, username=data["username"], password=data["password"])
        if getattr(django_request, "axes_locked_out", False):
            raise TooManyAttempts(signin.LOCKED_OUT_DETAIL, code=signin.LOCKED_OUT_CODE)
        if user is None:
            raise Unauthorized("wrong username or password", code="bad_credentials")
        token, secret = tokens.user_token_mint(user=user)
        return Response({"token": secret, "expires_at": token.expires_at}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, summary="Revoke the `ut_` token this request carries")
    def delete(self, request):
        if not isinstance(request.auth, UserToken):
            raise Forbidden(
                "send the ut_ token to revoke in the Authorization header", code="user_token_required"
            )
        tokens.user_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRevokeAllView(APIView):
    """Sign out everywhere: every `ut_` token of the caller stops working at once."""

    @extend_schema(
        request=None,
        responses={200: s.TokensRevokedSerializer},
        summary="Revoke every `ut_` token of the signed-in user (sign out everywhere)",
    )
    def post(self, request):
        revoked = tokens.user_tokens_revoke_all(
            user=request.user, actor=request.user, reason="sign_out_everywhere"
        )
        return Response({"revoked": revoked})


class MemberListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.MemberOutputSerializer(many=True), summary="List members (admin)")
    def get(self, request):
        members = Member.objects.select_related("user").order_by("member_number", "pk")
        return self.paged(members, s.MemberOutputSerializer)

    @errors(409, 422)
    @extend_schema(
        request=s.MemberInputSerializer,
        responses={201: s.MemberOutputSerializer},
        summary="Enrol a member (admin)",
    )
    def post(self, request):
        member = services.member_enrol(actor=request.user, **validated(s.MemberInputSerializer, request))
        return Response(s.MemberOutputSerializer(member).data, status=status.HTTP_201_CREATED)


class AssetListView(PagedAPIView):
    @extend_schema(
        responses=s.AssetOutputSerializer(many=True),
        summary="Assets I may see: all for admins, my contributions for members",
    )
    def get(self, request):
        assets = (
            selectors.assets_visible_to(request.user)
            .prefetch_related("contributors__member")
            .order_by("created_at", "pk")
        )
        return self.paged(assets, s.AssetOutputSerializer)

    @errors(422)
    @links(
        201,
        GetAsset=("v1_assets_retrieve", {"asset_id": "$response.body#/id"}),
        CompleteUpload=("v1_assets_complete_create", {"asset_id": "$response.body#/id"}),
    )
    @extend_schema(
        request=s.AssetInputSerializer,
        responses={201: s.AssetCreatedSerializer},
        summary="Register an asset and get a presigned upload",
    )
    def post(self, request):
        data = validated(s.AssetInputSerializer, request)
        asset, upload = services.asset_create(actor=request.user, **data)
        body = {**s.AssetOutputSerializer(asset).data, "upload": upload}
        return Response(body, status=status.HTTP_201_CREATED)


class AssetDetailView(APIView):
    @extend_schema(responses=s.AssetOutputSerializer, summary="One asset and its verification status")
    def get(self, request, asset_id):
        return Response(
            s.AssetOutputSerializer(selectors.asset_for(user=request.user, asset_id=asset_id)).data
        )


class AssetCompleteView(APIView):
    @errors(422)
    @extend_schema(
        request=s.CompleteInputSerializer,
        responses={202: s.AssetOutputSerializer, 503: s.ErrorSerializer},
        summary="The upload is done: join a multipart upload's parts, queue verification of size and SHA-256",
    )
    def post(self, request, asset_id):
        asset = selectors.asset_for(user=request.user, asset_id=asset_id)
        parts = validated(s.CompleteInputSerializer, request).get("parts")
        asset = services.asset_complete(actor=request.user, asset=asset, parts=parts)
        asset.refresh_from_db()
        return Response(s.AssetOutputSerializer(asset).data, status=status.HTTP_202_ACCEPTED)


def _own_member(user):
    return selectors.member_of(user)


def _member_decided_by(user, member_id) -> Member:
    """The member whose consent `user` decides: their own (no id given), or a late member's whose
    authority they hold. Any other member is not found; a user who is no member and names none
    is a 403."""
    if member_id is None:
        member = _own_member(user)
        if member is None:
            raise Forbidden("only members, or a late member's authority, may do this", code="members_only")
        return member
    member = Member.objects.filter(pk=member_id).first()
    own = member is not None and member.user_id == user.pk
    if not own and not selectors.members_in_authority_of(user).filter(pk=member_id).exists():
        raise NotFound("no such member", code="member_not_found")
    return member


class ConsentListView(PagedAPIView):
    permission_classes = [IsMemberOrAuthority]

    @errors(404)
    @extend_schema(
        parameters=[s.ConsentHistoryFilterSerializer],
        responses=s.ConsentOutputSerializer(many=True),
        summary="My consent history, or that of a late member whose authority I hold",
    )
    def get(self, request):
        filters = s.ConsentHistoryFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        member = _member_decided_by(request.user, filters.validated_data.get("member"))
        return self.paged(selectors.consent_history(member=member), s.ConsentOutputSerializer)

    @errors(404, 409, 422)
    @links(
        201,
        WithdrawConsent=("v1_consents_withdraw_create", {"consent_id": "$response.body#/id"}),
        ConsentReceipt=("v1_consents_receipt_retrieve", {"consent_id": "$response.body#/id"}),
    )
    @extend_schema(
        request=s.ConsentInputSerializer,
        responses={201: s.ConsentOutputSerializer},
        summary="Grant or refuse a use of one of my assets, or of all of them (or, as a late "
        "member's authority, of theirs)",
    )
    def post(self, request):
        data = validated(s.ConsentInputSerializer, request)
        member = _member_decided_by(request.user, data.get("member"))
        asset = None
        if data.get("asset"):
            asset = selectors.asset_of_member(member=member, asset_id=data["asset"])
        decide = services.consent_refuse if data["decision"] == "refuse" else services.consent_grant
        if data.get("cap"):
            decide = partial(decide, cap_quantity=data["cap"]["quantity"], cap_per=data["cap"]["per"])
        consent = decide(
            actor=request.user,
            member=member,
            use=data["use"],
            asset=asset,
            language=data["language"],
            channel=Consent.Channel.API,
        )
        return Response(s.ConsentOutputSerializer(consent).data, status=status.HTTP_201_CREATED)


def _own_consent(request, consent_id) -> Consent:
    """A decision of the caller's own member, or of a late member whose authority they hold."""
    member = _own_member(request.user)
    mine = Q(member=member) if member else Q(pk__in=[])
    consent = (
        Consent.objects.filter(mine | Q(member__in=selectors.members_in_authority_of(request.user)))
        .filter(pk=consent_id)
        .select_related("member", "text")
        .first()
    )
    if consent is None:
        raise NotFound("no such consent", code="consent_not_found")
    return consent


class ConsentWithdrawView(APIView):
    permission_classes = [IsMemberOrAuthority]

    @errors(404, 409)
    @extend_schema(
        request=None,
        responses=s.ConsentOutputSerializer,
        summary="Withdraw a grant now: takedowns go to every active lease holding the data",
    )
    def post(self, request, consent_id):
        withdrawal = services.consent_withdraw(
            actor=request.user, consent=_own_consent(request, consent_id), channel=Consent.Channel.API
        )
        return Response(s.ConsentOutputSerializer(withdrawal).data)


class ConsentReconfirmView(APIView):
    permission_classes = [IsMemberOrAuthority]

    @errors(404, 409)
    @extend_schema(
        request=None,
        responses={201: s.ConsentOutputSerializer},
        summary="Re-confirm a grant under the newer text now in force for its use",
    )
    def post(self, request, consent_id):
        grant = services.consent_reconfirm(
            actor=request.user, consent=_own_consent(request, consent_id), channel=Consent.Channel.API
        )
        return Response(s.ConsentOutputSerializer(grant).data, status=status.HTTP_201_CREATED)


class PdfRenderer(BaseRenderer):
    """A consent receipt as PDF, for `Accept: application/pdf` or `?format=pdf`."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return receipts.receipt_pdf(data)


class ConsentReceiptView(APIView):
    """The member's own decisions, and every one for an administrator; anyone else's is a 404."""

    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        responses={
            (200, "application/json"): s.ConsentReceiptSerializer,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
        summary="The signed receipt of a grant, refusal or withdrawal "
        "(JSON; PDF with Accept: application/pdf or ?format=pdf)",
    )
    def get(self, request, consent_id):
        consent = selectors.consent_for_receipt(user=request.user, consent_id=consent_id)
        document = receipts.signed_receipt(consent)
        response = Response(document)
        if isinstance(request.accepted_renderer, PdfRenderer):
            response["Content-Disposition"] = f'attachment; filename="{receipts.filename(document, "pdf")}"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever was asked for: a refusal is never rendered as a receipt.
        if response.status_code >= 400 and isinstance(
            getattr(request, "accepted_renderer", None), PdfRenderer
        ):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class ConsentTextListView(PagedAPIView):
    """Every version of every use's consent text: anyone may read them. Publishing a new
    version is for administrators."""

    def _reading(self) -> bool:
        return getattr(self.request, "method", None) in ("GET", "HEAD", "OPTIONS")

    def get_authenticators(self):
        return [] if self._reading() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._reading() else [IsTrustAdmin()]

    @extend_schema(
        parameters=[s.ConsentTextFilterSerializer],
        responses=s.ConsentTextSerializer(many=True),
        auth=[],
        summary="Every version of every use's consent text: use, version, language, date, hash, text",
    )
    def get(self, request):
        # A plain dict, so an empty `?use=` is a value to refuse (400), not an absent filter.
        filters = s.ConsentTextFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return self.paged(selectors.consent_texts(**filters.validated_data), s.ConsentTextSerializer)

    @errors(409, 422)
    @extend_schema(
        request=s.ConsentTextInputSerializer,
        responses={201: s.ConsentTextSerializer},
        summary="Publish the next version of a use's consent text "
        "(old grants keep theirs; members are asked to re-confirm)",
    )
    def post(self, request):
        data = validated(s.ConsentTextInputSerializer, request)
        published = services.consent_text_publish(
            actor=request.user,
            use=data["use"],
            text=data["text"],
            language=data["language"],
            effective_at=data.get("effective_at"),
        )
        return Response(s.ConsentTextSerializer(published).data, status=status.HTTP_201_CREATED)


class ContributionListView(PagedAPIView):
    """My shares of assets. Where another member named me, the share is `pending` until I
    accept or decline it; only accepted shares count as mine."""

    permission_classes = [IsMember]

    @extend_schema(
        parameters=[s.ContributionFilterSerializer],
        responses=s.ContributionOutputSerializer(many=True),
        summary="My shares of assets, newest first; ?status=pending: the requests waiting for my answer",
    )
    def get(self, request):
        filters = s.ContributionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        status_ = filters.validated_data.get("status")
        rows = selectors.contributions_of(_own_member(request.user), status=status_)
        return self.paged(rows, s.ContributionOutputSerializer)


class ContributionDecisionView(APIView):
    permission_classes = [IsMember]
    accept = True

    def post(self, request, contribution_id):
        row = selectors.contribution_for(user=request.user, contribution_id=contribution_id)
        row = services.contribution_decide(actor=request.user, contribution=row, accept=self.accept)
        return Response(s.ContributionOutputSerializer(row).data)


@extend_schema(
    request=None,
    responses={200: s.ContributionOutputSerializer, 404: s.ErrorSerializer, 409: s.ErrorSerializer},
    summary="Accept being named a contributor: the asset counts as mine (409 once answered)",
)
class ContributionAcceptView(ContributionDecisionView):
    accept = True


@extend_schema(
    request=None,
    responses={200: s.ContributionOutputSerializer, 404: s.ErrorSerializer, 409: s.ErrorSerializer},
    summary="Decline being named a contributor: never licensed with my share (409 once answered)",
)
class ContributionDeclineView(ContributionDecisionView):
    accept = False


class DatasetListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.DatasetOutputSerializer(many=True), summary="Datasets (admin)")
    def get(self, request):
        return self.paged(Dataset.objects.order_by("slug", "pk"), s.DatasetOutputSerializer)

    @errors(409)
    @links(
        201,
        GetDataset=("v1_datasets_retrieve", {"dataset_id": "$response.body#/id"}),
        AddAssets=("v1_datasets_items_create", {"dataset_id": "$response.body#/id"}),
        Freeze=("v1_datasets_versions_create", {"dataset_id": "$response.body#/id"}),
        ListVersions=("v1_datasets_versions_list", {"dataset_id": "$response.body#/id"}),
    )
    @extend_schema(
        request=s.DatasetInputSerializer,
        responses={201: s.DatasetOutputSerializer},
        summary="Create a dataset (admin)",
    )
    def post(self, request):
        dataset = services.dataset_create(actor=request.user, **validated(s.DatasetInputSerializer, request))
        return Response(s.DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.DatasetOutputSerializer, summary="One dataset (admin)")
    def get(self, request, dataset_id):
        return Response(s.DatasetOutputSerializer(found(Dataset.objects, dataset_id, what="dataset")).data)


class DatasetItemsView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(409, 422)
    @extend_schema(
        request=s.DatasetItemsInputSerializer,
        responses={200: s.DatasetItemsOutputSerializer, 201: s.DatasetItemsOutputSerializer},
        summary="Add verified assets to a dataset's working set (admin)",
    )
    def post(self, request, dataset_id):
        dataset = found(Dataset.objects, dataset_id, what="dataset")
        data = validated(s.DatasetItemsInputSerializer, request)
        added = services.dataset_add_assets(actor=request.user, dataset=dataset, asset_ids=data["assets"])
        body = {"added": added, "asset_count": dataset.items.count()}
        return Response(body, status=status.HTTP_201_CREATED if added else status.HTTP_200_OK)


class DatasetVersionsView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.DatasetVersionOutputSerializer(many=True), summary="Frozen versions (admin)")
    def get(self, request, dataset_id):
        versions = found(Dataset.objects, dataset_id, what="dataset").versions.order_by("number")
        return self.paged(versions, s.DatasetVersionOutputSerializer)

    @errors(409)
    @extend_schema(
        request=None,
        responses={201: s.DatasetVersionOutputSerializer},
        summary=(
            "Freeze the working set as the next immutable version; "
            "409 dataset_unchanged when nothing changed since the latest (admin)"
        ),
    )
    def post(self, request, dataset_id):
        version = services.dataset_freeze(
            actor=request.user, dataset=found(Dataset.objects, dataset_id, what="dataset")
        )
        return Response(s.DatasetVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)


class AuditLogView(generics.ListAPIView):
    """The hash-chained audit log, newest first (admin)."""

    permission_classes = [IsTrustAdmin]
    serializer_class = s.AuditEventSerializer
    queryset = AuditEvent.objects.order_by("-seq")


class MyBankAccountView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.BankAccountOutputSerializer, summary="Where my royalties are paid (member)")
    def get(self, request):
        return Response(s.BankAccountOutputSerializer(selectors.member_of(request.user)).data)

    @errors(422)
    @extend_schema(
        request=s.BankAccountInputSerializer,
        responses=s.BankAccountOutputSerializer,
        summary="Set where my royalties are paid; the IBAN is validated (member)",
    )
    def put(self, request):
        member = services.member_set_bank_account(
            actor=request.user,
            member=selectors.member_of(request.user),
            **validated(s.BankAccountInputSerializer, request),
        )
        return Response(s.BankAccountOutputSerializer(member).data)


def _member(member_id) -> Member:
    return found(Member.objects.all(), member_id, what="member")


def _death_body(death) -> dict:
    return s.DeathOutputSerializer(
        {**vars(death), "authority": selectors.authority_in_force(death.member)}
    ).data


class MemberDeathView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409, 422)
    @extend_schema(
        request=s.DeathInputSerializer,
        responses={200: s.DeathOutputSerializer},
        summary="Record a member's death with its evidence: consent authority passes to their "
        "estate representative or the union (admin)",
    )
    def post(self, request, member_id):
        data = validated(s.DeathInputSerializer, request)
        death = services.member_record_death(
            actor=request.user,
            member=_member(member_id),
            died_on=data["date"],
            evidence=data["evidence"],
            authority=data.get("authority"),
        )
        return Response(_death_body(death))


class MemberAuthorityView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409, 422)
    @extend_schema(
        request=s.AuthorityChangeInputSerializer,
        responses={200: s.ConsentAuthoritySerializer},
        summary="Pass a late member's consent authority to another holder, on evidence (admin)",
    )
    def post(self, request, member_id):
        data = validated(s.AuthorityChangeInputSerializer, request)
        changed = services.consent_authority_change(
            actor=request.user,
            member=_member(member_id),
            authority=data["authority"],
            evidence=data["evidence"],
        )
        return Response(s.ConsentAuthoritySerializer(changed).data)


class MyEstateRepresentativeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=s.EstateRepresentativeOutputSerializer,
        summary="Who decides on my consent after my death (member)",
    )
    def get(self, request):
        named = selectors.estate_representative_of(selectors.member_of(request.user))
        return Response(s.EstateRepresentativeOutputSerializer(named).data)

    @errors(409, 422)
    @extend_schema(
        request=s.EstateRepresentativeInputSerializer,
        responses=s.EstateRepresentativeOutputSerializer,
        summary="Name who decides on my consent after my death (member)",
    )
    def put(self, request):
        member = selectors.member_of(request.user)
        services.estate_representative_name(
            actor=request.user, member=member, **validated(s.EstateRepresentativeInputSerializer, request)
        )
        named = selectors.estate_representative_of(member)
        return Response(s.EstateRepresentativeOutputSerializer(named).data)


class RetentionView(APIView):
    """How long the trust holds each kind of asset (admin). Assets a shorter period makes due
    are destroyed by the next destruction run (daily, or `manage.py destroy_due_assets`)."""

    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.RetentionSerializer, summary="Retention in days per asset kind (admin)")
    def get(self, request):
        return Response(destruction.retention_periods())

    @errors(422)
    @extend_schema(
        request=s.RetentionInputSerializer,
        responses=s.RetentionSerializer,
        summary="Set the retention of the asset kinds named, in days from registration; null "
        "holds that kind until capture consent is withdrawn (admin)",
    )
    def put(self, request):
        periods = validated(s.RetentionInputSerializer, request)
        return Response(destruction.retention_set(actor=request.user, periods=dict(periods)))


class DestructionListView(PagedAPIView):
    """Destroyed assets: a member's own (as a contributor), every one for an administrator."""

    @extend_schema(
        responses=s.DestructionSerializer(many=True),
        summary="Destroyed assets with their certificates (member: their own; admin: all)",
    )
    def get(self, request):
        rows = destruction.destructions_visible_to(request.user).order_by("-destroyed_at", "-pk")
        return self.paged(rows, s.DestructionSerializer)


class DestructionCertificateView(APIView):
    """A contributor's certificate, and every one for an administrator; anyone else's is a 404."""

    @extend_schema(
        responses=s.DestructionCertificateSerializer,
        summary="The signed certificate of an asset's destruction (its contributors, admin)",
    )
    def get(self, request, destruction_id):
        done = found(destruction.destructions_visible_to(request.user), destruction_id, what="destruction")
        return Response(receipts.signed_certificate(done))
