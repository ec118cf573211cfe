"""A member's money pages: earnings at home, who used their data, and statements per period.
The figures come from the same selectors as GET /api/v1/me/earnings/ and /api/v1/me/leases/."""

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import path

from trust.consent import in_use_order
from trust.errors import NotFound
from trust.portal import member_required
from trust.selectors import member_of

from .. import selectors, statements
from ..charts import bar_chart

# The home chart shows the latest periods; every one of them has a row on the statements page.
CHART_PERIODS = 12


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
    path("statements/", statement_list, name="member-statements"),
    path("statements/<id:period_id>.csv", statement_csv, name="member-statement-csv"),
    path("statements/<id:period_id>.pdf", statement_pdf, name="member-statement-pdf"),
]
