"""HTTP <-> payouts services."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from licensing.api.permissions import IsStudioStaff
from licensing.selectors import studio_of
from payouts import payout_files, selectors, services
from payouts.models import PayoutBatch, Period
from trust.api.pagination import PagedAPIView
from trust.api.permissions import IsMember, IsTrustAdmin
from trust.api.schema import errors, links
from trust.api.serializers import ErrorSerializer
from trust.api.validation import found, validated
from trust.selectors import member_of

from . import serializers as s


def _rates_state() -> dict:
    fee, pension = services.rates_in_force()
    return {"admin_fee_bps": fee, "pension_bps": pension, "history": selectors.rate_history()}


class RatesView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.RatesStateSerializer, summary="Rates in force and their history (admin)")
    def get(self, request):
        return Response(s.RatesStateSerializer(_rates_state()).data)

    @errors(422)
    @extend_schema(
        request=s.RatesInputSerializer,
        responses=s.RatesStateSerializer,
        summary="Set the admin fee and pension rates from now on (admin)",
    )
    def put(self, request):
        services.rates_set(actor=request.user, **validated(s.RatesInputSerializer, request))
        return Response(s.RatesStateSerializer(_rates_state()).data)


class PeriodListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.PeriodOutputSerializer(many=True), summary="Periods (admin)")
    def get(self, request):
        return self.paged(Period.objects.order_by("-start", "-pk"), s.PeriodOutputSerializer)

    @errors(409, 422)
    @links(
        201,
        GetPeriod=("v1_periods_retrieve", {"period_id": "$response.body#/id"}),
        ClosePeriod=("v1_periods_close_create", {"period_id": "$response.body#/id"}),
    )
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
        return Response(s.PeriodOutputSerializer(found(Period.objects, period_id, what="period")).data)


class PeriodCloseView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(409)
    @extend_schema(
        request=None,
        responses={202: s.PeriodOutputSerializer, 503: ErrorSerializer},
        summary="Close an ended period or retry a failed close: a Celery job distributes it (admin)",
    )
    def post(self, request, period_id):
        period, _ = services.period_request_close(
            actor=request.user, period=found(Period.objects, period_id, what="period")
        )
        return Response(s.PeriodOutputSerializer(period).data, status=status.HTTP_202_ACCEPTED)


class MyEarningsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.EarningsSerializer, summary="My net earnings and pension credits (member)")
    def get(self, request):
        member = member_of(request.user)
        return Response(s.EarningsSerializer(selectors.member_earnings(member)).data)


class MyLeasesView(PagedAPIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=s.MemberLeaseSerializer(many=True),
        summary="Who used my data: every lease that included my assets, and what it earned me (member)",
    )
    def get(self, request):
        member = member_of(request.user)
        return self.paged(
            selectors.member_lease_history(member),
            s.MemberLeaseSerializer,
            prepare=lambda rows: selectors.member_lease_assets(member, rows),
        )


class PayoutBatchListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.PayoutBatchSerializer(many=True), summary="Payout batches (admin)")
    def get(self, request):
        batches = PayoutBatch.objects.prefetch_related("items__member").order_by("-created_at", "-pk")
        return self.paged(batches, s.PayoutBatchSerializer)

    @errors(422)
    @links(
        201,
        GetBatch=("v1_payouts_batches_retrieve", {"batch_id": "$response.body#/id"}),
        BatchCsv=("v1_payouts_batches_csv_retrieve", {"batch_id": "$response.body#/id"}),
        BatchPain001=("v1_payouts_batches_pain001_retrieve", {"batch_id": "$response.body#/id"}),
    )
    @extend_schema(
        request=s.PayoutBatchInputSerializer,
        responses={201: s.PayoutBatchSerializer},
        summary=(
            "Pay exactly the payable members (balance at or above the minimum, bank details given); "
            "the rest carry forward (admin)"
        ),
    )
    def post(self, request):
        batch = services.payout_batch_create(
            actor=request.user, **validated(s.PayoutBatchInputSerializer, request)
        )
        return Response(s.PayoutBatchSerializer(batch).data, status=status.HTTP_201_CREATED)


class MemberBalanceListView(PagedAPIView):
    """Every member the trust owes money, with whether the next batch pays them and why not:
    `payable_members()` and `unpayable_members()`, the rows the batch and the payouts page use."""

    permission_classes = [IsTrustAdmin]

    @extend_schema(
        parameters=[s.MemberBalanceFilterSerializer],
        responses=s.MemberBalanceSerializer(many=True),
        summary="Members owed money: who the next payout batch pays, and why it cannot pay the rest (admin)",
    )
    def get(self, request):
        filters = s.MemberBalanceFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        payable = filters.validated_data.get("payable")
        if payable is None:
            rows = selectors.member_balances()
        else:
            rows = selectors.payable_members() if payable else selectors.unpayable_members()
        return self.paged(rows, s.MemberBalanceSerializer)


class PayoutBatchDetailView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses=s.PayoutBatchSerializer, summary="One payout batch (admin)")
    def get(self, request, batch_id):
        return Response(s.PayoutBatchSerializer(found(PayoutBatch.objects, batch_id, what="batch")).data)


def _file_response(content, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class PayoutBatchCsvView(APIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(responses={(200, "text/csv"): str}, summary="The batch as CSV (admin)")
    def get(self, request, batch_id):
        batch = found(PayoutBatch.objects, batch_id, what="batch")
        return _file_response(
            payout_files.batch_csv(batch),
            content_type="text/csv",
            filename=f"guildtrust-payouts-{batch.pk}.csv",
        )


class PayoutBatchPainView(APIView):
    permission_classes = [IsTrustAdmin]

    # 409 `batch_empty`: a batch that paid nobody has no transfer to send.
    @errors(409)
    @extend_schema(
        responses={(200, "application/xml"): str},
        summary="The batch as an ISO 20022 pain.001.001.09 credit transfer (admin)",
    )
    def get(self, request, batch_id):
        batch = found(PayoutBatch.objects, batch_id, what="batch")
        return _file_response(
            payout_files.batch_pain001(batch),
            content_type="application/xml",
            filename=f"guildtrust-payouts-{batch.pk}.pain001.xml",
        )


class StudioChargesView(PagedAPIView):
    permission_classes = [IsStudioStaff]

    @extend_schema(
        responses=s.PeriodChargesSerializer(many=True),
        summary="My studio's charges per closed period, lease by lease (studio staff)",
    )
    def get(self, request):
        studio = studio_of(request.user)
        return self.paged(
            selectors.studio_charges(studio),
            s.PeriodChargesSerializer,
            prepare=lambda periods: selectors.studio_charges_lines_of(studio, periods),
        )
