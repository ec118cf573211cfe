"""A member's money pages: earnings at home, who used their data, payouts and bank details,
and statements per period. The figures come from the same selectors as GET
/api/v1/me/earnings/ and /api/v1/me/leases/; bank details are set by the same service as
PUT /api/v1/me/bank-account/."""

import django_filters
from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from trust import services as trust_services
from trust.consent import in_use_order
from trust.errors import NotFound
from trust.lists import csv_response, filtered_queryset, portal_list, wants_csv
from trust.portal import member_required, run_service_with_messages
from trust.selectors import member_of

from .. import selectors, statements
from ..charts import bar_chart
from ..models import PayoutItem
from .forms_member import BankAccountForm

# The home chart shows the latest periods; every one of them has a row on the statements page.
CHART_PERIODS = 12
PAYOUTS_PER_PAGE = 50


@member_required
def home(request):
    member = member_of(request.user)
    earnings = selectors.member_earnings(member)
    periods = selectors.member_earnings_by_period(member, earnings=earnings)
    shown = periods[-CHART_PERIODS:]
    chart = bar_chart([(row["period"], row["net_cents"], row["label"]) for row in shown])
    return render(
        request,
        "payouts/member/home.html",
        {
            "member": member,
            "earnings": earnings,
            "periods": shown,
            "older_periods": len(periods) - len(shown),
            "chart": chart,
            "breakdown": selectors.member_earnings_breakdown(member),
            "minimum_payout_cents": settings.TRUST_MINIMUM_PAYOUT_CENTS,
        },
    )


@member_required
def leases(request):
    history = selectors.member_lease_history(member_of(request.user))
    for row in history:
        row["uses"] = in_use_order(row["uses"])
    totals = {
        key: sum(row[key] for row in history)
        for key in ("downloads_of_my_assets", "net_cents", "pension_cents")
    }
    return render(request, "payouts/member/leases.html", {"leases": history, "totals": totals})


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
        ["batch", "made_on", "paid_on", "amount", "currency", "account_ending"],
        (
            [
                row["batch_id"],
                f"{row['created_at']:%Y-%m-%d}",
                f"{row['execution_date']:%Y-%m-%d}",
                statements.amount(row["amount_cents"]),
                row["currency"],
                row["account_ends"],
            ]
            for row in rows.iterator()
        ),
    )


@member_required
def payouts(request):
    """Every payout to the member, and where the next ones go (changed with their password)."""
    member = member_of(request.user)
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
                f"Bank details saved: payouts now go to the account ending {m.payout_iban[-4:]}."
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
    member = member_of(request.user)
    periods = selectors.member_earnings_by_period(member)
    return render(
        request,
        "payouts/member/statements.html",
        {
            "member": member,
            "periods": list(reversed(periods)),
            "total_net_cents": sum(row["net_cents"] for row in periods),
            "total_pension_cents": sum(row["pension_cents"] for row in periods),
            "total_admin_fee_cents": sum(row["admin_fee_cents"] for row in periods),
            "total_revenue_cents": sum(row["revenue_cents"] for row in periods),
        },
    )


def _statement(request, period_id: int) -> dict:
    try:
        return selectors.member_statement(member_of(request.user), period_id)
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
