"""HTTP <-> payouts.unclaimed: the pool (admin), claims (the member, or an admin on their
behalf), and marking a member untraceable or traceable again (admin)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from payouts import unclaimed
from trust.api.pagination import PagedAPIView
from trust.api.permissions import IsMember, IsTrustAdmin
from trust.api.schema import errors
from trust.api.validation import TextField, found, validated
from trust.models import Member
from trust.selectors import member_of


class UnclaimedPoolRowSerializer(serializers.Serializer):
    member = serializers.IntegerField(source="member_id")
    member_number = TextField()
    display_name = TextField()
    amount_cents = serializers.IntegerField(help_text="held in the pool for this member")
    since = serializers.DateTimeField(help_text="when the earliest amount still held moved to the pool")
    release_date = serializers.DateTimeField(
        source="release_at", help_text="the earliest release date: after it, that amount is redistributed"
    )
    untraceable = serializers.BooleanField(help_text="the member stands marked untraceable")
    has_bank_details = serializers.BooleanField()


class UnclaimedClaimSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.IntegerField(source="member_id")
    amount_cents = serializers.IntegerField(
        help_text="moved from the pool back to the member's payable balance"
    )
    claimed_at = serializers.DateTimeField()


class UnclaimedClaimInputSerializer(serializers.Serializer):
    member = serializers.IntegerField(help_text="the member's id")


class MyUnclaimedSerializer(serializers.Serializer):
    amount_cents = serializers.IntegerField(help_text="what I can claim back from the unclaimed pool now")
    release_date = serializers.DateTimeField(
        source="release_at", allow_null=True, help_text="claim before this date, or it is redistributed"
    )


class UntraceableInputSerializer(serializers.Serializer):
    reason = TextField(max_length=500, help_text="how the trust tried to reach the member")


class UntraceableMarkSerializer(serializers.Serializer):
    member = serializers.IntegerField(source="member_id")
    reason = TextField()
    marked_at = serializers.DateTimeField()
    cleared_at = serializers.DateTimeField(allow_null=True)


def _member(member_id) -> Member:
    return found(Member.objects.all(), member_id, what="member")


class UnclaimedPoolView(PagedAPIView):
    """What the unclaimed pool holds for each member, largest first (payouts.unclaimed)."""

    permission_classes = [IsTrustAdmin]

    @extend_schema(
        responses=UnclaimedPoolRowSerializer(many=True),
        summary="The unclaimed pool per member: amount held, since, release date (admin)",
    )
    def get(self, request):
        return self.paged(unclaimed.unclaimed_pool_rows(), UnclaimedPoolRowSerializer)


class UnclaimedClaimView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409)
    @extend_schema(
        request=UnclaimedClaimInputSerializer,
        responses={201: UnclaimedClaimSerializer},
        summary="Claim a member's held pool balance on their behalf, back to their payable balance (admin)",
    )
    def post(self, request):
        member = _member(validated(UnclaimedClaimInputSerializer, request)["member"])
        claim = unclaimed.unclaimed_claim(actor=request.user, member=member)
        return Response(UnclaimedClaimSerializer(claim).data, status=status.HTTP_201_CREATED)


class MyUnclaimedView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=MyUnclaimedSerializer, summary="What I can claim from the unclaimed pool (member)"
    )
    def get(self, request):
        return Response(MyUnclaimedSerializer(unclaimed.member_unclaimed(member_of(request.user))).data)


class MyUnclaimedClaimView(APIView):
    permission_classes = [IsMember]

    @errors(409)
    @extend_schema(
        request=None,
        responses={201: UnclaimedClaimSerializer},
        summary="Claim my held pool balance back to my payable balance; needs bank details (member)",
    )
    def post(self, request):
        claim = unclaimed.unclaimed_claim(actor=request.user, member=member_of(request.user))
        return Response(UnclaimedClaimSerializer(claim).data, status=status.HTTP_201_CREATED)


class MemberUntraceableView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409)
    @extend_schema(
        request=UntraceableInputSerializer,
        responses={201: UntraceableMarkSerializer},
        summary="Mark a member untraceable: payouts stop and their balance ages toward the pool (admin)",
    )
    def post(self, request, member_id):
        mark = unclaimed.member_mark_untraceable(
            actor=request.user, member=_member(member_id), **validated(UntraceableInputSerializer, request)
        )
        return Response(UntraceableMarkSerializer(mark).data, status=status.HTTP_201_CREATED)

    @errors(404, 409)
    @extend_schema(
        responses=UntraceableMarkSerializer, summary="Mark a member traceable again: payouts resume (admin)"
    )
    def delete(self, request, member_id):
        mark = unclaimed.member_mark_traceable(actor=request.user, member=_member(member_id))
        return Response(UntraceableMarkSerializer(mark).data)
