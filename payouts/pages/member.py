"""A member's money pages: earnings at home, who used their data, payouts and bank details,
and statements per period. The figures come from the same selectors as GET
/api/v1/me/earnings/ and /api/v1/me/leases/; bank details are set by the same service as
PUT /api/v1/me/bank-account/."""

import django_filters
from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone

from licensing import selectors as licensing_selectors
from trust import services as trust_services
from trust.consent import in_use_order
from trust.db import replica_reads
from trust.errors import NotFound
from trust.lists import csv_response, filtered_queryset, filtered_rows, portal_list, wants_csv
from trust.portal import member_in_view, member_required, run_service_with_messages
from trust.templatetags.portal import period_label, period_last_day

from .. import selectors, statements
from ..charts import bar_chart
from ..models import PayoutItem
from ..statements import amount
from .forms_member import BankAccountForm
from .lists import MemberLeaseFilter, StatementFilter

# The home chart shows the latest periods; every one of them has a row on the statements page.
CHART_PERIODS = 12
PAYOUTS_PER_PAGE = 50
# Each lease row renders a dozen figures, badges and dates: 25 a page keeps the page within its
# 100 ms at 200 leases (a sixth less CPU than 50); the totals and the CSV cover every lease.
LEASES_PER_PAGE = 25
# The newest models trained on the member's data that "who used my data" lists.
MODELS_SHOWN = 50


@member_required
def home(request):
    member = member_in_view(request)
    # Whose page this is was decided above, on the primary; the figures may lag it a moment.
    with replica_reads():
        # One period more than the chart shows says whether older ones exist, without reading them.
        periods = selectors.member_earnings_by_period(member, latest=CHART_PERIODS + 1)
        earnings = selectors.member_earnings_totals(member)
        breakdown = selectors.member_earnings_breakdown(member)
    shown = periods[-CHART_PERIODS:]
    chart = bar_chart([(row["period"], row["net_cents"], row["label"]) for row in shown])
    return render(
        request,
        "payouts/member/home.html",
        {
            "member": member,
            "earnings": earnings,
            "periods": shown,
            "older_periods": len(periods) > len(shown),
            "chart": chart,
            "breakdown": breakdown,
            "minimum_payout_cents": settings.TRUST_MINIMUM_PAYOUT_CENTS,
        },
    )


LEASE_CSV_HEADER = [
    "lease",
    "studio",
    "dataset",
    "version",
    "purpose",
    "uses",
    "status",
    "from",
    "until",
    "revoked",
    "your assets",
    "downloads of your assets",
    "net",
    "pension",
]


def _lease_csv(rows):
    for row in rows.iterator(chunk_size=2000):
        yield [
            row["lease"],
            row["studio_name"],
            row["dataset"],
            row["version_number"],
            row["purpose"],
            " ".join(in_use_order(row["uses"] or [])),
            row["status"],
            row["starts_at"].isoformat() if row["starts_at"] else "",
            row["ends_at"].isoformat() if row["ends_at"] else "",
            row["revoked_at"].isoformat() if row["revoked_at"] else "",
            row["my_asset_count"],
            row["downloads_of_my_assets"],
            amount(row["net_cents"]),
            amount(row["pension_cents"]),
        ]


@member_required
def leases(request):
    member = member_in_view(request)
    history = selectors.member_lease_history(member)
    if wants_csv(request):
        rows = filtered_rows(request, history, MemberLeaseFilter)
        return csv_response("guildtrust-who-used-my-data.csv", LEASE_CSV_HEADER, _lease_csv(rows))
    # Whose page this is was decided above, on the primary; the figures may lag it a moment (a
    # CSV streams from the primary once this returns).
    with replica_reads():
        listing = portal_list(request, history, MemberLeaseFilter, per_page=LEASES_PER_PAGE)
        lease_ids = [row["lease"] for row in listing.rows]  # the page's rows are read here
        vendors = selectors.member_lease_vendors(member, lease_ids)
        takedowns = selectors.member_lease_takedowns(member, lease_ids)
        # One row past what is shown says whether there are more, without counting them all.
        trained = list(licensing_selectors.member_models(member)[: MODELS_SHOWN + 1])
        totals = selectors.member_lease_totals(history)
        models = licensing_selectors.register_model_entries(trained[:MODELS_SHOWN], with_members=False)
    for row in listing.rows:
        row["uses"] = in_use_order(row["uses"])
        row["vendors"] = vendors.get(row["lease"], [])
        row["takedowns"] = takedowns.get(row["lease"], [])
    return render(
        request,
        "payouts/member/leases.html",
        {
            "listing": listing,
            "totals": totals,
            "models": models,
            "more_models": len(trained) > MODELS_SHOWN,
        },
    )


class PayoutFilter(django_filters.FilterSet):
    sort = django_filters.OrderingFilter(
        fields=(("batch__created_at", "date"), ("amount_cents", "amount")),
        field_labels={"batch__created_at": "Date", "amount_cents": "Amount"},
        label="Sort by",
    )

    class Meta:
        model = PayoutItem
        fields = []


def _payouts_csv(request, member):
    rows, _ = filtered_queryset(request, selectors.member_payouts(member), PayoutFilter)
    return csv_response(
        f"guildtrust-payouts-{statements.safe_filename_part(member.member_number)}.csv",
        ["batch", "made_on", "paid_on", "amount", "currency", "account_ending", "state", "returned_on"],
        (
            [
                row["batch_id"],
                f"{row['created_at']:%Y-%m-%d}",
                f"{row['execution_date']:%Y-%m-%d}",
                statements.amount(row["amount_cents"]),
                row["currency"],
                row["account_ends"],
                "returned" if row["returned_on"] else row["batch_state"],
                f"{row['returned_on']:%Y-%m-%d}" if row["returned_on"] else "",
            ]
            for row in rows.iterator()
        ),
    )


@member_required
def payouts(request):
    """Every payout to the member, and where the next ones go (changed with their password)."""
    member = member_in_view(request)
    if wants_csv(request):
        return _payouts_csv(request, member)
    form = BankAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        saved = run_service_with_messages(
            request,
            lambda: trust_services.member_set_bank_account(
                actor=request.user, member=member, **form.cleaned_data
            ),
            success=lambda m: (
                f"Bank details saved: payouts now go to the account ending {m.payout_account[-4:]}."
            ),
        )
        if saved is not None:
            return redirect("member-payouts")
        member.refresh_from_db()  # a refused change leaves the page showing what is on file
    listing = portal_list(request, selectors.member_payouts(member), PayoutFilter, per_page=PAYOUTS_PER_PAGE)
    return render(
        request,
        "payouts/member/payouts.html",
        {
            "member": member,
            "listing": listing,
            "form": form,
            "balance_cents": selectors.member_balance_cents(member),
            "paid_cents": selectors.member_paid_cents(member),
            "minimum_payout_cents": settings.TRUST_MINIMUM_PAYOUT_CENTS,
        },
    )


@member_required
def statement_list(request):
    member = member_in_view(request)
    rows = selectors.member_statement_rows(member)
    if wants_csv(request):
        return csv_response(
            "guildtrust-statements.csv",
            ["period", "first day", "last day", "net", "pension", "trust fee", "gross"],
            (
                [
                    period_label(row["start"], row["end"]),
                    timezone.localtime(row["start"]).date().isoformat(),
                    period_last_day(row["start"], row["end"]).isoformat(),
                    amount(row["member_net_cents"]),
                    amount(row["member_pension_cents"]),
                    amount(row["member_admin_fee_cents"]),
                    amount(row["member_revenue_cents"]),
                ]
                for row in filtered_rows(request, rows, StatementFilter).iterator(chunk_size=2000)
            ),
        )
    with replica_reads():  # as on the leases page; the page's rows are read here, in the loop
        listing = portal_list(request, rows, StatementFilter)
        totals = selectors.member_statement_totals(rows)
        for row in listing.rows:
            row["label"] = period_label(row["start"], row["end"])
            row["last_day"] = period_last_day(row["start"], row["end"])
    return render(
        request,
        "payouts/member/statements.html",
        {"member": member, "listing": listing, **totals},
    )


def _statement(request, period_id: int) -> dict:
    try:
        return selectors.member_statement(member_in_view(request), period_id)
    except NotFound as error:
        raise Http404(error.detail) from error


def _attachment(content, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@member_required
def statement_csv(request, period_id):
    statement = _statement(request, period_id)
    return _attachment(
        statements.statement_csv(statement),
        content_type="text/csv; charset=utf-8",
        filename=statements.filename(statement, "csv"),
    )


@member_required
def statement_pdf(request, period_id):
    statement = _statement(request, period_id)
    return _attachment(
        statements.statement_pdf(statement),
        content_type="application/pdf",
        filename=statements.filename(statement, "pdf"),
    )


urlpatterns = [
    path("", home, name="member-home"),
    path("leases/", leases, name="member-leases"),
    path("payouts/", payouts, name="member-payouts"),
    path("statements/", statement_list, name="member-statements"),
    path("statements/<id:period_id>.csv", statement_csv, name="member-statement-csv"),
    path("statements/<id:period_id>.pdf", statement_pdf, name="member-statement-pdf"),
]
