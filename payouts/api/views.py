"""HTTP <-> payouts services."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from payouts import selectors, services
from payouts.models import Period
from trust.api.permissions import IsMember, IsTrustAdmin
from trust.api.validation import validated
from trust.errors import NotFound
from trust.selectors import member_of

from . import serializers as s


def _period(period_id) -> Period:
    period = Period.objects.filter(pk=period_id).first()
    if period is None:
        raise NotFound("no such period", code="period_not_found")
    return period


def _rates_state() -> dict:
    fee, pension = services.rates_in_force()
    return {"admin_fee_bps": fee, "pension_bps": pension, "history": selectors.rate_history()}


class RatesView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.RatesStateSerializer, summary="Rates in force and their history (admin)")
    def get(self, request):
        return Response(s.RatesStateSerializer(_rates_state()).data)

    @extend_schema(
        request=s.RatesInputSerializer,
        responses=s.RatesStateSerializer,
        summary="Set the admin fee and pension rates from now on (admin)",
    )
    def put(self, request):
        services.rates_set(actor=request.user, **validated(s.RatesInputSerializer, request))
        return Response(s.RatesStateSerializer(_rates_state()).data)


class PeriodListView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.PeriodOutputSerializer(many=True), summary="Periods (admin)")
    def get(self, request):
        return Response(s.PeriodOutputSerializer(Period.objects.all(), many=True).data)

    @extend_schema(
        request=s.PeriodInputSerializer,
        responses={201: s.PeriodOutputSerializer},
        summary="Create a period; overlapping periods are refused (admin)",
    )
    def post(self, request):
        period = services.period_create(actor=request.user, **validated(s.PeriodInputSerializer, request))
        return Response(s.PeriodOutputSerializer(period).data, status=status.HTTP_201_CREATED)


class PeriodDetailView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.PeriodOutputSerializer, summary="A period, its totals and progress (admin)")
    def get(self, request, period_id):
        return Response(s.PeriodOutputSerializer(_period(period_id)).data)


class PeriodCloseView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(
        request=None,
        responses={202: s.PeriodOutputSerializer},
        summary="Close an ended period: a Celery job distributes its revenue (admin)",
    )
    def post(self, request, period_id):
        period, _ = services.period_request_close(actor=request.user, period=_period(period_id))
        return Response(s.PeriodOutputSerializer(period).data, status=status.HTTP_202_ACCEPTED)


class MyEarningsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.EarningsSerializer, summary="My net earnings and pension credits (member)")
    def get(self, request):
        member = member_of(request.user)
        return Response(s.EarningsSerializer(selectors.member_earnings(member)).data)


class MyLeasesView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=s.MemberLeaseSerializer(many=True),
        summary="Who used my data: every lease that included my assets, and what it earned me (member)",
    )
    def get(self, request):
        return Response(
            s.MemberLeaseSerializer(selectors.member_lease_history(member_of(request.user)), many=True).data
        )
