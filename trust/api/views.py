"""HTTP <-> trust services. Views validate shape, call one service, render the result."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from trust import selectors, services, signin, tokens
from trust.errors import Forbidden, NotFound, TooManyAttempts, Unauthorized
from trust.models import AuditEvent, Consent, Dataset, Member, UserToken

from . import serializers as s
from .pagination import PagedAPIView
from .permissions import IsMember, IsTrustAdmin
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


class ConsentListView(PagedAPIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.ConsentOutputSerializer(many=True), summary="My consent history")
    def get(self, request):
        return self.paged(
            selectors.consent_history(member=_own_member(request.user)), s.ConsentOutputSerializer
        )

    @errors(404, 409, 422)
    @links(201, WithdrawConsent=("v1_consents_withdraw_create", {"consent_id": "$response.body#/id"}))
    @extend_schema(
        request=s.ConsentInputSerializer,
        responses={201: s.ConsentOutputSerializer},
        summary="Grant a use of one of my assets, or of all of them",
    )
    def post(self, request):
        member = _own_member(request.user)
        data = validated(s.ConsentInputSerializer, request)
        asset = None
        if data.get("asset"):
            asset = selectors.asset_for(user=request.user, asset_id=data["asset"])
        consent = services.consent_grant(actor=request.user, member=member, use=data["use"], asset=asset)
        return Response(s.ConsentOutputSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentWithdrawView(APIView):
    permission_classes = [IsMember]

    @errors(409)
    @extend_schema(
        request=None,
        responses=s.ConsentOutputSerializer,
        summary="Withdraw a grant now: takedowns go to every active lease holding the data",
    )
    def post(self, request, consent_id):
        member = _own_member(request.user)
        consent = Consent.objects.filter(pk=consent_id, member=member).select_related("member").first()
        if consent is None:
            raise NotFound("no such consent", code="consent_not_found")
        withdrawal = services.consent_withdraw(actor=request.user, consent=consent)
        return Response(s.ConsentOutputSerializer(withdrawal).data)


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
