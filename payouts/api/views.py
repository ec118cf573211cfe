"""HTTP <-> payouts services."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from federation.api.auth import PeerCallView
from licensing.api.permissions import IsStudioStaff, IsStudioStaffOrAdmin
from licensing.selectors import studio_of
from payouts import (
    corrections,
    credit_note_documents,
    invoice_documents,
    invoices,
    payout_batches,
    payout_files,
    reconciliation,
    selectors,
    services,
    settlements,
)
from payouts.models import Account, Invoice, PayoutBatch, Period
from trust.api.pagination import PagedAPIView
from trust.api.permissions import IsMember, IsTrustAdmin
from trust.api.schema import errors, links
from trust.api.serializers import ErrorSerializer
from trust.api.validation import found, validated
from trust.db import replica_reads
from trust.errors import Invalid
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
        # Authenticated and found on the primary; the figures may lag it a moment.
        with replica_reads():
            return Response(s.EarningsSerializer(selectors.member_earnings(member)).data)


class MyLeasesView(PagedAPIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=s.MemberLeaseSerializer(many=True),
        summary="Who used my data: every lease that included my assets, and what it earned me (member)",
    )
    def get(self, request):
        member = member_of(request.user)
        with replica_reads():
            return self.paged(
                selectors.member_lease_history(member),
                s.MemberLeaseSerializer,
                prepare=lambda rows: selectors.member_lease_assets(member, rows),
            )


class MyPayoutsView(PagedAPIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=s.MyPayoutSerializer(many=True),
        summary="Every payout to me: amount, account ending, the batch's state and dates, returns (member)",
    )
    def get(self, request):
        return self.paged(selectors.member_payouts(member_of(request.user)), s.MyPayoutSerializer)


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

    @errors(409)  # batch_empty: a batch that paid nobody has no transfer to send
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


# Settlements of federated leases ----------------------------------------------------------------

PERIOD_PARAMETER = OpenApiParameter(
    "period",
    str,
    description="START/END: the period window at the lease's home trust, ISO dates or date-times "
    "(without it, the latest window settled here)",
)
PEER_CALL_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class SettlementListView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(422)
    @extend_schema(
        parameters=[PERIOD_PARAMETER],
        responses=s.SettlementListSerializer,
        summary="Settlements of federated leases with peer trusts, per peer and lease, both sides' figures "
        "and which way the money is owed (admin)",
    )
    def get(self, request):
        text = request.query_params.get("period")
        window = settlements.parse_window(text) if text is not None else settlements.latest_window()
        rows = settlements.settlement_rows(*window) if window else []
        start, end = window or (None, None)
        return Response(
            s.SettlementListSerializer({"period_start": start, "period_end": end, "settlements": rows}).data
        )


class InboundSettlementView(PeerCallView):
    """The home trust of federated leases states what it owes this trust for its parts here in
    one of its period windows; this trust records the shares, compares with its own meters and
    answers its own figures."""

    @extend_schema(
        request=s.InboundSettlementSerializer,
        responses={200: s.InboundSettlementAnswerSerializer, 422: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="The calling trust's settlement of its leases' parts here for a period window: shares "
        "recorded, this trust's own figures answered (signed trust-to-trust call)",
    )
    def post(self, request):
        data = validated(s.InboundSettlementSerializer, request)
        ours = settlements.settlement_received(
            peer=request.auth,
            start=data["period_start"],
            end=data["period_end"],
            statements=data["statements"],
        )
        return Response({"statements": ours})


class InboundPartDownloadsView(PeerCallView):
    """The home trust asks this trust's meter how many downloads its parts here had in a window."""

    @extend_schema(
        parameters=[PERIOD_PARAMETER],
        responses={200: s.PartDownloadsAnswerSerializer, 422: ErrorSerializer, **PEER_CALL_ERRORS},
        summary="Downloads of the calling trust's leases' parts here in a period window, from this "
        "trust's gateway (signed trust-to-trust call)",
    )
    def get(self, request):
        start, end = settlements.parse_window(request.query_params.get("period", ""))
        return Response(
            {"downloads": settlements.downloads_for_peer(peer=request.auth, start=start, end=end)}
        )


# Studio billing documents: invoices and credit notes --------------------------------------------


@dataclass(frozen=True)
class BillingDocument:
    """What differs between a studio's invoices and its credit notes for the list and file views:
    which rows a user may see, what the list prefetches and shows, and each file's builder."""

    what: str  # the code word of a 404 for one the caller may not see
    visible_to: Callable[..., QuerySet]
    list_prefetch: tuple[str, ...]
    serializer: type[BaseSerializer]
    files: dict[str, tuple[str, Callable]]  # extension -> (content type, builder)
    filename: Callable[..., str]


INVOICE = BillingDocument(
    what="invoice",
    visible_to=invoices.invoices_visible_to,
    list_prefetch=("lines",),
    serializer=s.InvoiceSerializer,
    files={
        "pdf": ("application/pdf", invoice_documents.invoice_pdf),
        "csv": ("text/csv", invoice_documents.invoice_csv),
    },
    filename=invoice_documents.filename,
)
CREDIT_NOTE = BillingDocument(
    what="credit_note",
    visible_to=corrections.credit_notes_visible_to,
    list_prefetch=("lines__original_invoice",),
    serializer=s.CreditNoteSerializer,
    files={
        "pdf": ("application/pdf", credit_note_documents.credit_note_pdf),
        "csv": ("text/csv", credit_note_documents.credit_note_csv),
    },
    filename=credit_note_documents.filename,
)


# The documents the caller may see, newest first: a studio's own for its staff, every studio's
# for an administrator. (Comments, not docstrings, on these bases: a docstring would become each
# subclass's description in the OpenAPI schema.)
class BillingDocumentListView(PagedAPIView):
    permission_classes = [IsStudioStaffOrAdmin]
    document: BillingDocument

    def get(self, request):
        rows = self.document.visible_to(request.user).prefetch_related(*self.document.list_prefetch)
        return self.paged(rows, self.document.serializer)


# One document as a file, if the caller may see it: another studio's is a 404 like a missing one.
class BillingDocumentFileView(APIView):
    permission_classes = [IsStudioStaffOrAdmin]
    document: BillingDocument
    extension: str

    def get(self, request, **path):
        (document_id,) = path.values()  # invoice_id or note_id, named by the URL
        row = found(self.document.visible_to(request.user), document_id, what=self.document.what)
        content_type, build = self.document.files[self.extension]
        return _file_response(
            build(row), content_type=content_type, filename=self.document.filename(row, self.extension)
        )


@extend_schema_view(
    get=extend_schema(
        responses=s.InvoiceSerializer(many=True),
        summary="Invoices, newest first: a studio's own for its staff, every studio's for an administrator",
    )
)
class InvoiceListView(BillingDocumentListView):
    document = INVOICE


@extend_schema_view(
    get=extend_schema(responses={(200, "application/pdf"): bytes}, summary="The invoice as PDF")
)
class InvoicePdfView(BillingDocumentFileView):
    document, extension = INVOICE, "pdf"


@extend_schema_view(get=extend_schema(responses={(200, "text/csv"): str}, summary="The invoice as CSV"))
class InvoiceCsvView(BillingDocumentFileView):
    document, extension = INVOICE, "csv"


class InvoicePaymentView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(409, 422)
    @extend_schema(
        request=s.InvoicePaymentInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Any unique string (a UUID): the same payment sent again with it is "
                "recorded once and answered 200; the key reused for another payment is 409.",
            )
        ],
        responses={201: s.InvoicePaymentSerializer, 200: s.InvoicePaymentSerializer},
        summary="Record a studio's payment on an invoice; partial payments add up, over-payment is "
        "refused (admin)",
    )
    def post(self, request, invoice_id):
        invoice = found(Invoice.objects, invoice_id, what="invoice")
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 200:
            raise Invalid("an Idempotency-Key is at most 200 characters", code="bad_idempotency_key")
        payment = invoices.invoice_payment_record(
            actor=request.user,
            invoice=invoice,
            idempotency_key=key,
            **validated(s.InvoicePaymentInputSerializer, request),
        )
        answer = status.HTTP_200_OK if payment.replayed else status.HTTP_201_CREATED
        return Response(s.InvoicePaymentSerializer(payment).data, status=answer)


class InvoiceVoidView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(409)
    @extend_schema(
        request=s.InvoiceVoidInputSerializer,
        responses=s.InvoiceSerializer,
        summary="Void an open invoice with no payment: its total leaves the studio's receivable (admin)",
    )
    def post(self, request, invoice_id):
        invoice = found(Invoice.objects, invoice_id, what="invoice")
        invoice = invoices.invoice_void(
            actor=request.user, invoice=invoice, **validated(s.InvoiceVoidInputSerializer, request)
        )
        return Response(s.InvoiceSerializer(invoice).data)


class PayoutBatchSentView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409, 422)
    @extend_schema(
        request=s.PayoutBatchSentInputSerializer,
        responses=s.PayoutBatchSerializer,
        summary="Mark a created batch sent to the bank, with the day (admin)",
    )
    def post(self, request, batch_id):
        batch = payout_batches.payout_batch_mark_sent(
            actor=request.user, batch_id=batch_id, **validated(s.PayoutBatchSentInputSerializer, request)
        )
        return Response(s.PayoutBatchSerializer(_with_items(batch.pk)).data)


class PayoutBatchSettledView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409, 422)
    @extend_schema(
        request=s.PayoutBatchSettledInputSerializer,
        responses=s.PayoutBatchSerializer,
        summary="Mark a sent batch settled: what the bank paid leaves payouts in transit (admin)",
    )
    def post(self, request, batch_id):
        batch = payout_batches.payout_batch_mark_settled(
            actor=request.user, batch_id=batch_id, **validated(s.PayoutBatchSettledInputSerializer, request)
        )
        return Response(s.PayoutBatchSerializer(_with_items(batch.pk)).data)


class PayoutReturnView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404, 409, 422)
    @extend_schema(
        request=s.PayoutReturnInputSerializer,
        responses=s.PayoutBatchSerializer,
        summary="A payment the bank returned: its amount goes back to the member's balance (admin)",
    )
    def post(self, request, batch_id):
        data = validated(s.PayoutReturnInputSerializer, request)
        payout_batches.payout_item_return(
            actor=request.user,
            batch_id=batch_id,
            member_id=data["member"],
            reason=data["reason"],
            returned_on=data.get("returned_on"),
        )
        return Response(s.PayoutBatchSerializer(_with_items(batch_id)).data)


def _with_items(batch_id: int) -> PayoutBatch:
    """The batch and its payments with their members: three queries, however many payments."""
    return PayoutBatch.objects.prefetch_related("items__member").get(pk=batch_id)


# Credit notes (payouts.corrections) -------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        responses=s.CreditNoteSerializer(many=True),
        summary="Credit notes for corrections of closed periods, newest first: a studio's own for its "
        "staff, every studio's for an administrator",
    )
)
class CreditNoteListView(BillingDocumentListView):
    document = CREDIT_NOTE


@extend_schema_view(
    get=extend_schema(responses={(200, "application/pdf"): bytes}, summary="The credit note as PDF")
)
class CreditNotePdfView(BillingDocumentFileView):
    document, extension = CREDIT_NOTE, "pdf"


@extend_schema_view(get=extend_schema(responses={(200, "text/csv"): str}, summary="The credit note as CSV"))
class CreditNoteCsvView(BillingDocumentFileView):
    document, extension = CREDIT_NOTE, "csv"


# Reconciliation and the ledger's accounts (admin); a studio's statement of account ------------


class ReconciliationView(APIView):
    permission_classes = [IsTrustAdmin]

    @errors(404)  # period_not_found
    @extend_schema(
        parameters=[s.ReconciliationQuerySerializer],
        responses=s.ReconciliationSerializer,
        summary="One period reconciled: invoiced vs collected, distributed vs paid, fee, pension, "
        "unclaimed, and the proof that the ledger balances (admin)",
    )
    def get(self, request):
        query = s.ReconciliationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = found(Period.objects, query.validated_data["period"], what="period")
        return Response(s.ReconciliationSerializer(reconciliation.period_reconciliation(period)).data)


class LedgerAccountListView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(
        parameters=[s.AccountFilterSerializer],
        responses=s.AccountSerializer(many=True),
        summary="The ledger's accounts by code, with their kept balances (admin)",
    )
    def get(self, request):
        filters = s.AccountFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paged(reconciliation.accounts_listing(**filters.validated_data), s.AccountSerializer)


class LedgerAccountEntriesView(PagedAPIView):
    permission_classes = [IsTrustAdmin]

    @extend_schema(
        responses=s.AccountEntrySerializer(many=True),
        summary="The entries that make one account's balance, newest first (admin)",
    )
    def get(self, request, account_id):
        account = found(Account.objects, account_id, what="account")
        return self.paged(reconciliation.account_entries(account), s.AccountEntrySerializer)


class StudioStatementView(APIView):
    permission_classes = [IsStudioStaff]

    @extend_schema(
        responses=s.StatementOfAccountSerializer,
        summary="My studio's statement of account: invoices, payments, voids and credit notes with a "
        "running balance (studio staff)",
    )
    def get(self, request):
        statement = reconciliation.studio_statement_of_account(studio_of(request.user))
        return Response(s.StatementOfAccountSerializer(statement).data)
